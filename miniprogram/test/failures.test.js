// What a user meets on a real phone, against a real `applet serve all`: stale logins, dropped links,
// a server that restarts, gateways that answer HTML, refused logins, a session store that is down.
// Each failure must leave a visible message and a way to retry.
const test = require('node:test');
const assert = require('node:assert');
const { startServer, freePort, loadPage, createWx, waitFor, tapOn } = require('./harness.js');
const { startGateway } = require('./gateway.js');
const config = require('../config.js');

let server;
test.before(async () => { server = await startServer({ APPLET_GAME_BOT_DELAY: '60s' }); });
test.after(async () => { await server.stop(); });

test('game: a stale stored login (yesterday\'s) heals and the game plays', async (t) => {
  const wx = createWx('stale');
  wx.setStorageSync('applet_session', { skey: 'e'.repeat(48), userinfo: { openId: 'oyesterday', nickName: 'Y' } });
  const page = loadPage('game', wx);
  t.after(() => page.onUnload());
  page.onLoad();
  await waitFor(() => page.data.state === 'ready' && page.data.online, 'ready after a new login', 8000);
  assert.notStrictEqual(wx.getStorageSync('applet_session').skey, 'e'.repeat(48), 'a new login replaced the stale one');
  assert.match(page.sees(), /开始匹配/);
  // Someone to play: a second phone.
  const other = loadPage('game', createWx('stale-friend'));
  t.after(() => other.onUnload());
  other.onLoad();
  await waitFor(() => other.data.state === 'ready' && other.data.online, 'friend ready');
  await tapOn(page, page.view(), '开始匹配');
  await tapOn(other, other.view(), '开始匹配');
  await waitFor(() => page.data.state === 'playing', 'a round starts');
  assert.match(page.sees(), /对手：/);
});

test('game: the link drops while waiting; back to a consistent state, saying why', async (t) => {
  const wx = createWx('dropper');
  const page = loadPage('game', wx);
  t.after(() => page.onUnload());
  page.onLoad();
  await waitFor(() => page.data.online, 'online');
  await tapOn(page, page.view(), '开始匹配');
  assert.match(page.sees(), /匹配中…/);
  page.socket.task.raw.terminate(); // the network drops, no close frame
  await waitFor(() => page.data.reconnecting, 'reconnecting');
  assert.match(page.sees(), /重连中…/);
  wx.netListeners.forEach((cb) => cb({ isConnected: true, networkType: 'wifi' })); // the network is back
  await waitFor(() => page.data.online && !page.data.reconnecting, 'reconnected', 5000);
  assert.strictEqual(page.data.state, 'ready');
  assert.match(page.sees(), /网络中断，本局已结束，请重新匹配 .*开始匹配/);
  assert.doesNotMatch(page.sees(), /匹配中…/);
});

test('game: a refused login is visible with a retry, and the retry works', async (t) => {
  const wx = createWx('refused');
  wx.failLogin = true;
  const page = loadPage('game', wx);
  t.after(() => page.onUnload());
  await page.onLoad();
  assert.strictEqual(page.data.state, 'error');
  assert.match(page.sees(), /微信登录失败，请检查网络后重试 重试/);
  wx.failLogin = false;
  await tapOn(page, page.view(), '重试');
  await waitFor(() => page.data.state === 'ready', 'ready after the retry');
});

test('game: the server restarts while waiting; the page says so and reconnects', async (t) => {
  const own = await startServer({ APPLET_GAME_BOT_DELAY: '60s' });
  const wx = createWx('restart');
  const page = loadPage('game', wx);
  t.after(() => { page.onUnload(); config.host = server.host; });
  page.onLoad();
  await waitFor(() => page.data.online, 'online');
  await tapOn(page, page.view(), '开始匹配');
  await own.stop(); // SIGTERM: waiting players hear that the server is restarting
  await waitFor(() => /服务器正在重启|网络中断/.test(page.data.message) || page.data.reconnecting, 'told');
  assert.match(page.sees(), /服务器正在重启，请稍后再试|重连中…/);
  assert.doesNotMatch(page.sees(), /匹配中…/);
});

test('an HTML 502 from a gateway and a 503 show a message and a retry that works', async (t) => {
  let failing = 502;
  const gw = await startGateway(server.host, (req) => (failing && !req.url.includes('/session/') ? failing : 0));
  config.host = gw.host;
  t.after(async () => { await gw.close(); config.host = server.host; });
  const wx = createWx('gateway');
  const video = loadPage('video', wx);
  await video.onLoad();
  assert.match(video.sees(), /服务器出错了，请稍后再试 重试/);
  const album = loadPage('album', wx);
  await album.onLoad();
  assert.match(album.sees(), /服务器出错了，请稍后再试 重试/);
  failing = 503;
  await video.retry();
  assert.match(video.sees(), /服务繁忙，请稍后再试 重试/);
  failing = 0;
  await tapOn(video, video.view(), '重试');
  assert.strictEqual(video.data.list.length, 6, 'the first page after the retry');
  assert.doesNotMatch(video.sees(), /重试/);
  // A post that meets the gateway keeps the draft and says why.
  const detail = loadPage('detail', wx);
  await detail.onLoad({ id: String(video.data.list[0].id), title: 't', src: '' });
  failing = 502;
  detail.onInput({ detail: { value: '你好' } });
  await detail.postComment();
  assert.strictEqual(wx.toasts.at(-1), '服务器出错了，请稍后再试');
  assert.strictEqual(detail.data.draft, '你好');
});

test('drawing: while the session store is down the login is kept and the page says try again', async () => {
  // Sessions on a Redis that does not answer: the server says the store is down (HTTP 503, not code
  // -1, which wafer2-client-sdk would take for a dead login).
  const down = await startServer({ APPLET_REDIS_ADDR: '127.0.0.1:' + (await freePort()) });
  try {
    const wx = createWx('frank');
    const stored = { skey: 'a'.repeat(48), userinfo: { openId: 'ofrank' } };
    wx.setStorageSync('applet_session', stored);
    const page = loadPage('draw', wx);
    await page.onLoad();
    assert.match(page.sees(), /服务暂时不可用，请稍后再试 重试/);
    assert.deepStrictEqual(wx.getStorageSync('applet_session'), stored, 'the login is kept');
    page.touchStart({ touches: [{ x: 1, y: 2 }] });
    page.touchMove({ touches: [{ x: 3, y: 4 }] });
    await page.save();
    assert.strictEqual(wx.toasts.at(-1), '服务暂时不可用，请稍后再试');
    assert.strictEqual(page.actions.length, 2, 'the drawing is still on the canvas to save again');
  } finally {
    await down.stop();
    config.host = server.host;
  }
});

test('album with owner checks: logs in, and offers delete only on one\'s own photos', async () => {
  const own = await startServer({ APPLET_ALBUM_OWNER_CHECK: 'true' });
  try {
    const fs = require('node:fs');
    const os = require('node:os');
    const path = require('node:path');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'img-')), 'a.png');
    fs.writeFileSync(file, Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64'));
    const alice = createWx('owner-alice');
    const a = loadPage('album', alice);
    await a.onLoad();
    assert.strictEqual(a.data.ownerCheck, true);
    alice.nextImage = file;
    await a.chooseImage();
    assert.strictEqual(a.data.images.length, 1, 'uploaded, signed in: ' + alice.toasts);
    const url = a.data.images[0];
    const bob = createWx('owner-bob');
    const b = loadPage('album', bob);
    await b.onLoad();
    assert.deepStrictEqual(b.data.images, [url]);
    let offered;
    bob.showActionSheet = (o) => { offered = o.itemList; o.success({ tapIndex: 0 }); };
    bob.downloadFile = (o) => o.fail({ errMsg: 'downloadFile:fail' });
    await b.onLongPress({ currentTarget: { dataset: { url } } });
    assert.deepStrictEqual(offered, ['保存到手机'], 'no delete on someone else\'s photo');
    assert.match(b.sees(), /删除自己上传的图片/);
    let mine;
    global.wx = alice; // pages call the wx of the phone they run on
    alice.showActionSheet = (o) => { mine = o.itemList; o.success({ tapIndex: 1 }); };
    await a.onLongPress({ currentTarget: { dataset: { url } } });
    assert.deepStrictEqual(mine, ['保存到手机', '删除']);
    assert.deepStrictEqual(a.data.images, [], 'alice deleted her own');
  } finally {
    await own.stop();
    config.host = server.host;
  }
});

test('with content checks: a comment signs in first, and a refused one says why and keeps the draft', async () => {
  const own = await startServer({ APPLET_WECHAT_CONTENT_CHECK: 'true' });
  try {
    const wx = createWx('writer');
    const detail = loadPage('detail', wx);
    await detail.onLoad({ id: '1', title: 't', src: '' });
    detail.onInput({ detail: { value: '很好看' } });
    await detail.postComment();
    assert.strictEqual(wx.toasts.at(-1), '已发表', wx.toasts.join(' | '));
    assert.match(detail.sees(), /匿名用户 很好看/);
    detail.onInput({ detail: { value: '这里有违规内容' } });
    await detail.postComment();
    assert.strictEqual(wx.toasts.at(-1), '内容含有违规信息，请修改后再发');
    assert.strictEqual(detail.data.draft, '这里有违规内容');
  } finally {
    await own.stop();
    config.host = server.host;
  }
});

test('no network: a message and a retry; a login WeChat refuses is said plainly', async (t) => {
  t.after(() => { config.host = server.host; });
  config.host = 'http://127.0.0.1:' + (await freePort()); // nothing listens: the request fails
  const wx = createWx('offline');
  const video = loadPage('video', wx);
  await video.onLoad();
  assert.match(video.sees(), /网络不可用，请检查网络后重试 重试/);
  config.host = server.host;
  await tapOn(video, video.view(), '重试');
  assert.ok(video.data.list.length > 0);

  const refused = createWx('reused');
  refused.reuseCode = true; // the second login sends a used code, which WeChat refuses
  const draw = loadPage('draw', refused);
  await draw.onLoad();
  refused.setStorageSync('applet_session', { skey: 'd'.repeat(48), userinfo: { openId: 'ox' } });
  await draw.list();
  assert.match(draw.sees(), /登录失败，请稍后再试 重试/);
});
