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
  assert.strictEqual(sock.emit('join'), false, 'an emit before the connection is dropped, not queued');
  await waitFor(() => connects === 1, 'connect');
  sock.emit('join', undefined, (res) => acks.push(res));
  sock.emit('choice', { choice: 9 }, (res) => acks.push(res));
  await waitFor(() => acks.length === 2, 'acks');
  assert.deepStrictEqual(acks[1], { ok: false, error: 'choice must be 1 (scissors), 2 (rock) or 3 (paper)' });
  await waitFor(() => his.length === 1, 'hi');

  sock.task.raw.terminate(); // the network drops, no close frame
  await waitFor(() => connects === 2 && his.length === 2, 'reconnect and hello again', 5000);
});

test('a link that goes silent is noticed from the ping timing and reconnected', async (t) => {
  const wx = createWx('hugo');
  const sock = new SocketIO(config.host.replace('http', 'ws') + '/applet/websocket/socket.io/', { wx });
  t.after(() => sock.close());
  let connects = 0;
  let timeouts = 0;
  sock.on('connect', () => { connects++; });
  sock.on('timeout', () => { timeouts++; });
  await waitFor(() => connects === 1, 'connect');
  assert.ok(sock.pingWait > 0, 'the wait comes from the open packet');
  // The phone's radio drops: nothing arrives any more, and no close event comes from the OS.
  sock.task.raw.pause();
  sock.pingWait = 300; // the server's ping timing, shortened for the test
  sock.alive();
  await waitFor(() => timeouts === 1 && connects === 2, 'the dead link dropped and a new one made', 5000);
});

test('emits made while offline are not replayed into the next connection', async (t) => {
  const wx = createWx('iris');
  const sock = new SocketIO(config.host.replace('http', 'ws') + '/applet/websocket/socket.io/', { wx });
  t.after(() => sock.close());
  let connects = 0;
  sock.on('connect', () => { connects++; sock.emit('hello', { user: { uid: 'iris' } }); });
  await waitFor(() => connects === 1, 'connect');
  sock.task.raw.terminate();
  await waitFor(() => !sock.connected, 'offline');
  const sent = [];
  const realSend = wx.connectSocket;
  wx.connectSocket = (o) => { const task = realSend(o); const s = task.send; task.send = (m) => { sent.push(m.data); s(m); }; return task; };
  assert.strictEqual(sock.emit('choice', { choice: 1 }), false);
  sock.reconnectNow();
  await waitFor(() => connects === 2, 'reconnected at once');
  assert.ok(!sent.some((f) => f.includes('choice')), 'the offline choice was not sent: ' + sent);
});
