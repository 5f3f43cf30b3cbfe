"""A trained policy outside the lab: an inference API over a policy run directory (`policy_api`), numpy
arrays over msgpack (`wire`), a websocket policy server (`server`) and its client (`client`)."""
