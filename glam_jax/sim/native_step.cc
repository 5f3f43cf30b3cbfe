// Native MuJoCo physics as an XLA FFI call on the CPU: what `native_ffi.py` builds and registers.
//
// The Python callback path (native_env.NativeSimulator) spends ~0.5 ms of a 1.45 ms control step at 8
// environments outside MuJoCo: jax's pure_callback placing its arguments and converting its results, and
// handing half the batch to a Python thread. Here XLA calls C++ directly and slices of the batch go to the
// process's persistent helper threads (native_pool.h).
//
// A simulator is registered once per process under a key (a hash of the model and of the output layout,
// made in Python): the compiled program names only the key, never an address, so a program from the
// persistent compilation cache finds this process's simulator of the same model. The registry copies the
// model and makes its own scratch mjData, so nothing of it depends on Python objects staying alive.
//
// Semantics are those of NativeSimulator.run: from each float32 integration state (mjSTATE_INTEGRATION),
// mj_step x nstep (mj_forward when nstep is 0), then `time` and the registered output arrays, rounded to
// float32. Same calls on the same float64 values: the results are bitwise those of the Python path.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "mujoco/mujoco.h"
#include "native_pool.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

struct Simulator {
  mjModel* model = nullptr;
  std::vector<mjData*> datas;          // one scratch mjData per thread
  std::vector<int64_t> columns;        // output column k = double number columns[k] from an mjData's buffer
  int state_size = 0;
  std::mutex busy;                     // the scratch mjData are shared by every call
};

std::mutex registry_lock;
std::map<int64_t, std::unique_ptr<Simulator>>& registry() {
  static auto* r = new std::map<int64_t, std::unique_ptr<Simulator>>();
  return *r;
}

void RunSliceOrThrow(Simulator* sim, mjData* d, int64_t nstep, const float* states, float* out, int64_t lo,
                     int64_t hi) {
  const int64_t s = sim->state_size, o = 1 + static_cast<int64_t>(sim->columns.size());
  std::vector<mjtNum> state(s);
  const mjtNum* buffer = static_cast<const mjtNum*>(d->buffer);
  for (int64_t i = lo; i < hi; ++i) {
    for (int64_t k = 0; k < s; ++k) state[k] = states[i * s + k];
    mj_setState(sim->model, d, state.data(), mjSTATE_INTEGRATION);
    if (nstep) {
      for (int64_t k = 0; k < nstep; ++k) mj_step(sim->model, d);
    } else {
      mj_forward(sim->model, d);
    }
    float* row = out + i * o;
    row[0] = static_cast<float>(d->time);
    for (size_t k = 0; k < sim->columns.size(); ++k) row[k + 1] = static_cast<float>(buffer[sim->columns[k]]);
  }
}

// MuJoCo's errors reach C++ as exceptions where its Python bindings are loaded (they install an error
// handler that throws): a slice keeps the first one's message for the call to return as an XLA error.
void RunSlice(Simulator* sim, mjData* d, int64_t nstep, const float* states, float* out, int64_t lo, int64_t hi,
              std::string* error, std::mutex* error_lock) {
  try {
    RunSliceOrThrow(sim, d, nstep, states, out, lo, hi);
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(*error_lock);
    if (error->empty()) *error = e.what();
  } catch (...) {
    std::lock_guard<std::mutex> lock(*error_lock);
    if (error->empty()) *error = "unknown error in mj_step";
  }
}

ffi::Error Step(ffi::Buffer<ffi::F32> states, ffi::ResultBuffer<ffi::F32> out, int64_t key, int64_t nstep) {
  Simulator* sim;
  {
    std::lock_guard<std::mutex> lock(registry_lock);
    auto it = registry().find(key);
    if (it == registry().end()) return ffi::Error::InvalidArgument("glam_mj_step: no simulator registered under this key");
    sim = it->second.get();
  }
  const auto dims = states.dimensions();
  if (dims.size() == 0 || dims.back() != sim->state_size)
    return ffi::Error::InvalidArgument("glam_mj_step: states do not match the registered model's state size");
  const int64_t n = static_cast<int64_t>(states.element_count()) / sim->state_size;
  const int64_t o = 1 + static_cast<int64_t>(sim->columns.size());
  if (static_cast<int64_t>(out->element_count()) != n * o)
    return ffi::Error::InvalidArgument("glam_mj_step: output size does not match the batch");
  std::lock_guard<std::mutex> lock(sim->busy);
  const int64_t k = std::max<int64_t>(1, std::min<int64_t>(sim->datas.size(), n));
  std::string error;
  std::mutex error_lock;
  glam::WorkerPool::Run(k, [&](int64_t j) {
    RunSlice(sim, sim->datas[j], nstep, states.typed_data(), out->typed_data(), n * j / k, n * (j + 1) / k, &error,
             &error_lock);
  });
  if (!error.empty()) return ffi::Error::Internal("glam_mj_step: " + error);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GlamMjStep, Step,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("key")
                                  .Attr<int64_t>("nstep"));

// Registers a simulator of `model` under `key` (a second call with the same key keeps the first): `threads`
// scratch mjData, and the output columns given as the addresses of `ncolumns` doubles in `reference`'s
// memory (an mjData of the same model: MuJoCo lays every mjData of a model out alike). Returns 0, or -1 when
// an address lies outside `reference`'s buffer.
extern "C" int glam_register_simulator(int64_t key, const mjModel* model, const mjData* reference,
                                       const int64_t* addresses, int64_t ncolumns, int64_t threads) {
  std::lock_guard<std::mutex> lock(registry_lock);
  if (registry().count(key)) return 0;
  auto sim = std::make_unique<Simulator>();
  const int64_t base = reinterpret_cast<int64_t>(reference->buffer);
  for (int64_t k = 0; k < ncolumns; ++k) {
    const int64_t offset = addresses[k] - base;
    if (offset < 0 || offset % sizeof(mjtNum) || offset >= static_cast<int64_t>(reference->nbuffer)) return -1;
    sim->columns.push_back(offset / static_cast<int64_t>(sizeof(mjtNum)));
  }
  sim->model = mj_copyModel(nullptr, model);
  for (int64_t j = 0; j < threads; ++j) sim->datas.push_back(mj_makeData(sim->model));
  sim->state_size = mj_stateSize(sim->model, mjSTATE_INTEGRATION);
  registry()[key] = std::move(sim);
  return 0;
}
