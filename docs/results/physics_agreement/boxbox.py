"""Contacts of a finger pad (box 0.011 x 0.004 x 0.018 half-sizes) pressed on the cube (box 0.02): MuJoCo C
against MJX, face on and slightly tilted."""
import numpy as np, mujoco, jax
from mujoco import mjx
XML = '''<mujoco><option timestep="0.005" cone="pyramidal"/>
<worldbody>
 <body name="cube" pos="0 0 0"><freejoint/><geom name="cube" type="box" size="0.02 0.02 0.02"/></body>
 <body name="pad" pos="0 0.0238 0" euler="{ex} {ey} {ez}"><freejoint/><geom name="pad" type="box" size="0.011 0.004 0.018"/></body>
</worldbody></mujoco>'''
for tilt in ((0, 0, 0), (3, 0, 0), (0, 0, 4), (2, 3, 1)):
  m = mujoco.MjModel.from_xml_string(XML.format(ex=tilt[0], ey=tilt[1], ez=tilt[2]))
  d = mujoco.MjData(m)
  mujoco.mj_forward(m, d)
  c = [(np.round(d.contact[i].pos, 4), round(float(d.contact[i].dist), 5)) for i in range(d.ncon)]
  mx = mjx.put_model(m)
  dx = mjx.forward(mx, mjx.put_data(m, d))
  dist = np.asarray(dx._impl.contact.dist) if hasattr(dx, '_impl') else np.asarray(dx.contact.dist)
  pos = np.asarray(dx._impl.contact.pos) if hasattr(dx, '_impl') else np.asarray(dx.contact.pos)
  act = dist < 0
  print('tilt (deg)', tilt, '| C:', d.ncon, 'contacts, depths', sorted(x[1] for x in c),
        '| MJX:', int(act.sum()), 'of', len(dist), 'depths', sorted(np.round(dist[act], 5).tolist()))
  print('   C pos', [tuple(p) for p, _ in c]); print('   MJX pos', [tuple(np.round(p, 4)) for p in pos[act]])
