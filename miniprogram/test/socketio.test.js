// The Socket.IO library against the real game server: ack callbacks, heartbeats, and reconnecting
// after the connection drops.
const test = require('node:test');
const assert = require('node:assert');
const { startServer, createWx, waitFor } = require('./harness.js');
const config = require('../config.js');
const { SocketIO } = require('../lib/socketio.js');

let server;
test.before(async () => { server = await startServer(); });
test.after(async () => { await server.stop(); });

test('acks, and a reconnect with the emits of the connect handler', async (t) => {
  const wx = createWx('gwen');
  const sock = new SocketIO(config.host.replace('http', 'ws') + '/applet/websocket/socket.io/', { wx });
  t.after(() => sock.close());
  let connects = 0;
  const his = [];
  sock.on('connect', () => { connects++; sock.emit('hello', { user: { uid: 'gwen' } }); });
  sock.on('hi', (d) => his.push(d));
  const acks = [];
  sock.emit('join', undefined, (res) => acks.push(res)); // queued until connected
  sock.emit('choice', { choice: 9 }, (res) => acks.push(res));
  await waitFor(() => acks.length === 2, 'acks');
  assert.deepStrictEqual(acks[1], { ok: false, error: 'choice must be 1 (scissors), 2 (rock) or 3 (paper)' });
  await waitFor(() => his.length === 1, 'hi');

  sock.task.raw.terminate(); // the network drops, no close frame
  await waitFor(() => connects === 2 && his.length === 2, 'reconnect and hello again', 5000);
});
