// The pages and libraries against a real `applet serve all`.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer, freePort, loadPage, createWx, waitFor, tap } = require('./harness.js');
const config = require('../config.js');
const session = require('../lib/session.js');
const { JSONSocket } = require('../lib/wsjson.js');

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

let server;
test.before(async () => { server = await startServer(); });
test.after(async () => { await server.stop(); });

test('album: upload, list, save to the phone, delete', async () => {
  const wx = createWx('alice');
  const page = loadPage('album', wx);
  await page.onLoad();
  assert.deepStrictEqual(page.data.images, []);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'img-')), 'photo.png');
  fs.writeFileSync(file, PNG);
  wx.nextImage = file;
  await page.chooseImage();
  assert.strictEqual(page.data.images.length, 1, 'toasts: ' + wx.toasts);
  const url = page.data.images[0];
  assert.match(url, new RegExp('^' + config.host + '/applet/album/files/photos/\\d{13}-\\w{8}\\.png$'));

  await page.refresh();
  assert.deepStrictEqual(page.data.images, [url]);

  wx.nextTap = 0; // save
  await page.onLongPress(tap({ url }));
  assert.deepStrictEqual(wx.saved[0], PNG, 'the saved file is the uploaded image');

  wx.nextTap = 1; // delete
  await page.onLongPress(tap({ url }));
  assert.deepStrictEqual(page.data.images, []);
  await page.refresh();
  assert.deepStrictEqual(page.data.images, [], 'deleted on the server too');
});

test('video: page to the end, open a video, comment, see it first', async () => {
  const wx = createWx('bob');
  const list = loadPage('video', wx);
  await list.onLoad();
  while (list.data.pageNo < list.data.totalPage) await list.onReachBottom();
  assert.strictEqual(list.data.list.length, 10);
  await list.onReachBottom(); // past the end: nothing more
  assert.strictEqual(list.data.list.length, 10);
  list.openVideo(tap({ index: 3 }));
  const query = Object.fromEntries(new URL('http://x' + wx.navigated[0]).searchParams);
  const detail = loadPage('detail', wx);
  await detail.onLoad(query);
  assert.strictEqual(detail.data.id, list.data.list[3].id);
  assert.strictEqual(detail.data.title, list.data.list[3].video_title);
  detail.onNick({ detail: { value: '小程序用户' } });
  detail.onInput({ detail: { value: '  好看 🎬  ' } });
  await detail.postComment();
  assert.strictEqual(detail.data.comments[0].content, '好看 🎬');
  assert.strictEqual(detail.data.comments[0].nick, '小程序用户');
  assert.strictEqual(detail.data.draft, '');
  detail.onInput({ detail: { value: 'x'.repeat(501) } });
  await detail.postComment();
  assert.match(wx.toasts.at(-1), /500/, 'the server says why');
});

test('drawing: log in, save, list, delete; a lost session logs in again once', async () => {
  const wx = createWx('carol');
  const page = loadPage('draw', wx);
  await page.onLoad();
  assert.strictEqual(page.data.error, '');
  assert.deepStrictEqual(page.data.paints, []);
  page.touchStart({ touches: [{ x: 1, y: 2 }] });
  page.touchMove({ touches: [{ x: 3, y: 4 }] });
  page.touchMove({ touches: [{ x: 5, y: 6 }] });
  await page.save();
  assert.strictEqual(page.data.paints.length, 1);
  assert.strictEqual(page.data.paints[0].steps, 3);
  assert.deepStrictEqual(JSON.parse(page.data.paints[0].actions)[1], { type: 'line', x: 3, y: 4 });

  // The server forgot the session (a forged or expired skey): 401, one login, one retry.
  wx.setStorageSync('applet_session', { skey: 'f'.repeat(48), userinfo: {} });
  await page.list();
  assert.strictEqual(page.data.paints.length, 1, 'same user again after the new login');
  await page.remove(tap({ id: page.data.paints[0].id }));
  assert.deepStrictEqual(page.data.paints, []);

  const refused = createWx('dave');
  refused.failLogin = true;
  global.wx = refused;
  await assert.rejects(session.login(), (err) => err.name === 'LoginError' && /微信登录失败/.test(err.message));
});

test('drawing: while the session store is down the login is kept and the page says try again', async () => {
  // Sessions on a Redis that does not answer: the server says the store is down (HTTP 503, not code
  // -1, which wafer2-client-sdk would take for a dead login).
  const down = await startServer({ APPLET_REDIS_ADDR: '127.0.0.1:' + (await freePort()) });
  try {
    const answer = await fetch(down.host + '/applet/session/paints/list', { headers: { 'X-WX-Skey': 'a'.repeat(48) } });
    const body = await answer.json();
    assert.strictEqual(answer.status, 503);
    assert.notStrictEqual(body.code, -1, 'wafer2-client-sdk clears a login on code -1');
    const wx = createWx('frank');
    const stored = { skey: 'a'.repeat(48), userinfo: {} };
    wx.setStorageSync('applet_session', stored);
    const page = loadPage('draw', wx);
    await page.onLoad();
    assert.strictEqual(page.data.error, '服务暂时不可用，请稍后再试');
    assert.deepStrictEqual(wx.getStorageSync('applet_session'), stored, 'the login is kept');
    page.touchStart({ touches: [{ x: 1, y: 2 }] });
    page.touchMove({ touches: [{ x: 3, y: 4 }] });
    await page.save();
    assert.strictEqual(wx.toasts[wx.toasts.length - 1], '服务暂时不可用，请稍后再试');
    assert.strictEqual(page.actions.length, 2, 'the drawing is still on the canvas to save again');
    await page.remove(tap({ id: 'x' }));
    assert.strictEqual(wx.toasts[wx.toasts.length - 1], '服务暂时不可用，请稍后再试');
  } finally {
    await down.stop();
    config.host = server.host;
  }
});

test('game: a round against the bot, rematch, and a round between two clients', async (t) => {
  const wx = createWx('erin');
  const page = loadPage('game', wx);
  t.after(() => page.onUnload()); // no reconnect timers left behind, pass or fail
  await page.onLoad();
  await waitFor(() => page.data.state === 'ready', 'hi');
  assert.match(page.data.uid, /^o/, 'the uid is the session openId');
  for (let round = 0; round < 2; round++) {
    if (round === 0) page.join(); else page.rematch();
    await waitFor(() => page.data.state === 'playing', 'start');
    assert.ok(page.data.roomUsers.some((u) => u.uid.startsWith('robot-')), 'a bot joined');
    page.choose(tap({ choice: '2' }));
    await waitFor(() => page.data.state === 'result', 'result');
    assert.ok(['win', 'lose', 'tie'].includes(page.data.verdict), 'every outcome is shown, losses included');
  }

  // A second phone on the plain protocol plays the page.
  const other = new JSONSocket(config.host.replace('http', 'ws') + '/applet/websocket/ws', { wx: createWx('frank') });
  t.after(() => other.close());
  const seen = [];
  ['hi', 'start', 'movement', 'result', 'leave'].forEach((e) => other.on(e, (d) => seen.push([e, d])));
  other.emit('hello', { user: { uid: 'frank', uname: 'Frank' } });
  await waitFor(() => seen.some(([e]) => e === 'hi'), 'hi for frank');
  page.leave(); // out of the bot's room: a rematch there would replay the bot, who is always ready
  page.join();
  other.emit('join');
  await waitFor(() => page.data.state === 'playing', 'start with frank');
  assert.ok(page.data.roomUsers.some((u) => u.uid === 'frank'), JSON.stringify(page.data.roomUsers));
  other.emit('choice', { choice: 3 });
  await waitFor(() => page.data.opponentMoved, 'movement from frank');
  page.choose(tap({ choice: '1' })); // scissors beats paper
  await waitFor(() => page.data.state === 'result', 'result with frank');
  assert.strictEqual(page.data.verdict, 'win');
  await waitFor(() => seen.some(([e]) => e === 'result'), 'frank sees the result');
  page.leave();
  await waitFor(() => seen.some(([e, d]) => e === 'leave' && d.uid === page.data.uid), 'frank sees the page leave');
});
