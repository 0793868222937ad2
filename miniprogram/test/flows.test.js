// The pages against a real `applet serve all`, asserted on what the user sees: each page's template
// is rendered with its data (test/wxml.js), so a renamed field or state in a .wxml fails here.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer, loadPage, createWx, waitFor, tap, tapOn } = require('./harness.js');
const config = require('../config.js');
const session = require('../lib/session.js');
const { JSONSocket } = require('../lib/wsjson.js');

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

let server;
test.before(async () => { server = await startServer(); });
test.after(async () => { await server.stop(); });

function pngFile(name = 'photo.png', data = PNG) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'img-')), name);
  fs.writeFileSync(file, data);
  return file;
}

test('album: empty, upload with progress, list, save to the phone, delete after a confirm', async () => {
  const wx = createWx('alice');
  const page = loadPage('album', wx);
  await page.onLoad();
  assert.match(page.sees(), /还没有图片/);
  wx.nextImage = pngFile();
  await tapOn(page, page.view(), '上传图片');
  assert.strictEqual(page.data.images.length, 1, 'toasts: ' + wx.toasts);
  assert.ok(page.updates.some((u) => u.progress === 100), 'the upload showed its progress');
  const url = page.data.images[0];
  assert.match(url, new RegExp('^' + config.host + '/applet/album/files/photos/\\d{13}-\\w{8}\\.png$'));
  await page.refresh();
  const cells = page.view().find('data-url');
  assert.deepStrictEqual(cells.map((c) => c.attrs.src), [url], 'the image is on screen');

  wx.nextTap = 0; // save
  await page.onLongPress(tap({ url }));
  assert.deepStrictEqual(wx.saved[0], PNG, 'the saved file is the uploaded image');

  wx.nextModal = false; // delete, then change one's mind
  wx.nextTap = 1;
  await page.onLongPress(tap({ url }));
  assert.match(wx.modals.at(-1), /确定删除/);
  assert.strictEqual(page.data.images.length, 1, 'nothing deleted without a confirm');
  wx.nextModal = true;
  await page.onLongPress(tap({ url }));
  assert.deepStrictEqual(page.data.images, []);
  await page.refresh();
  assert.deepStrictEqual(page.data.images, [], 'deleted on the server too');
});

test('album: size and type are checked before sending; permission and privacy failures explained', async () => {
  const wx = createWx('amy');
  const page = loadPage('album', wx);
  await page.onLoad();
  wx.nextImage = pngFile();
  wx.nextSize = 6 * 1024 * 1024;
  await page.chooseImage();
  assert.strictEqual(wx.toasts.at(-1), '单个不超过5MB');
  wx.nextSize = 0;
  wx.nextImage = pngFile('a.bmp');
  await page.chooseImage();
  assert.strictEqual(wx.toasts.at(-1), '仅支持 jpg/png 图片');
  assert.deepStrictEqual(page.data.images, [], 'nothing was sent');

  wx.chooseFails = 'chooseMedia:fail auth deny';
  await page.chooseImage();
  assert.match(wx.modals.at(-1), /允许访问相册/);
  assert.strictEqual(wx.settingsOpened, 1, 'the way to the settings');
  wx.chooseFails = 'chooseMedia:fail api scope is not declared in the privacy agreement';
  await page.chooseImage();
  assert.match(wx.modals.at(-1), /隐私保护指引/);
  const shown = wx.modals.length;
  wx.chooseFails = 'chooseMedia:fail cancel';
  await page.chooseImage();
  assert.strictEqual(wx.modals.length, shown, 'a cancel says nothing');
});

test('video: page to the end, open a video, comment, see it first', async () => {
  const wx = createWx('bob');
  const list = loadPage('video', wx);
  await list.onLoad();
  while (list.data.pageNo < list.data.totalPage) await list.onReachBottom();
  assert.strictEqual(list.data.list.length, 10);
  await list.onReachBottom(); // past the end: nothing more
  assert.strictEqual(list.data.list.length, 10);
  const seen = list.sees();
  for (const v of list.data.list) assert.ok(seen.includes(v.video_title), 'title on screen: ' + v.video_title);
  assert.match(seen, /没有更多了/);
  // Two scrolls at once load the next page once.
  await list.refresh();
  await Promise.all([list.onReachBottom(), list.onReachBottom()]);
  assert.strictEqual(new Set(list.data.list.map((v) => v.id)).size, list.data.list.length, 'no page twice');

  list.openVideo(tap({ index: 3 }));
  const query = Object.fromEntries(new URL('http://x' + wx.navigated[0]).searchParams);
  const detail = loadPage('detail', wx);
  await detail.onLoad(query);
  assert.strictEqual(detail.data.id, list.data.list[3].id);
  assert.ok(detail.sees().includes(list.data.list[3].video_title));
  detail.onNick({ detail: { value: '小程序用户' } });
  detail.onInput({ detail: { value: '  好看 🎬  ' } });
  await tapOn(detail, detail.view(), '发表');
  assert.strictEqual(detail.data.comments[0].content, '好看 🎬');
  assert.match(detail.sees(), /小程序用户 好看 🎬/);
  assert.strictEqual(detail.data.comments[0].avatar, '', 'no made-up avatar');
  assert.strictEqual(detail.view().find('src', '').filter((n) => n.tag === 'image').length, 0, 'no empty image shown');
  assert.strictEqual(detail.data.draft, '');
  detail.onInput({ detail: { value: 'x'.repeat(501) } });
  await detail.postComment();
  assert.match(wx.toasts.at(-1), /[\u4e00-\u9fff]/, 'the user is told in Chinese: ' + wx.toasts.at(-1));
  assert.strictEqual(detail.data.draft.length, 501, 'the draft stays to fix');
});

test('drawing: log in, save, list, delete; a stale stored login logs in again once', async () => {
  const wx = createWx('carol');
  // Storage from yesterday: a login the server no longer knows.
  wx.setStorageSync('applet_session', { skey: 'f'.repeat(48), userinfo: { openId: 'ostale' } });
  const page = loadPage('draw', wx);
  await page.onLoad();
  page.onReady();
  assert.strictEqual(page.data.error, '');
  assert.match(page.sees(), /还没有保存的画/);
  page.touchStart({ touches: [{ x: 1, y: 2 }] });
  page.touchMove({ touches: [{ x: 3, y: 4 }] });
  page.touchMove({ touches: [{ x: 5, y: 6 }] });
  await tapOn(page, page.view(), '保存');
  assert.strictEqual(page.data.paints.length, 1);
  assert.match(page.sees(), /3 笔/);
  assert.deepStrictEqual(JSON.parse(page.saved[page.data.paints[0].id])[1], { type: 'line', x: 3, y: 4 });
  await tapOn(page, page.view(), '删除');
  assert.deepStrictEqual(page.data.paints, []);

  const refused = createWx('dave');
  refused.failLogin = true;
  global.wx = refused;
  await assert.rejects(session.login(), (err) => err.name === 'LoginError' && /微信登录失败/.test(err.message));
});

test('session: one login at a time, whoever asks', async () => {
  const wx = createWx('olga');
  global.wx = wx;
  let logins = 0;
  const real = wx.login;
  wx.login = (o) => { logins++; real(o); };
  const all = await Promise.all([session.ensure(), session.ensure(), session.request({ url: config.host + '/applet/session/user' })]);
  assert.strictEqual(logins, 1, 'one login for three callers');
  assert.strictEqual(all[0].skey, all[1].skey);
});

test('game: a round against the bot, rematch, and a round between two clients who see pseudonyms', async (t) => {
  const wx = createWx('erin');
  const page = loadPage('game', wx);
  t.after(() => page.onUnload()); // no reconnect timers left behind, pass or fail
  page.onLoad();
  assert.match(page.sees(), /连接中…/);
  await waitFor(() => page.data.state === 'ready', 'hi');
  assert.match(page.data.uid, /^o/, 'the uid is the session openId');
  for (let round = 0; round < 2; round++) {
    await tapOn(page, page.view(), round === 0 ? '开始匹配' : '再来一局');
    assert.match(page.sees(), /匹配中…/);
    await waitFor(() => page.data.state === 'playing', 'start');
    assert.match(page.sees(), /对手：robot-\d+/);
    await tapOn(page, page.view(), '石头');
    await waitFor(() => page.data.state === 'result', 'result');
    assert.match(page.sees(), /你赢了|你输了|平局/, 'every outcome is shown, losses included');
  }

  // A second phone on the plain protocol plays the page; each sees the other by a pseudonym.
  const other = new JSONSocket(config.host.replace('http', 'ws') + '/applet/websocket/ws', { wx: createWx('frank') });
  t.after(() => other.close());
  const seen = [];
  ['hi', 'start', 'movement', 'result', 'leave'].forEach((e) => other.on(e, (d) => seen.push([e, d])));
  other.emit('hello', { user: { uid: 'frank', uname: 'Frank' } });
  await waitFor(() => seen.some(([e]) => e === 'hi'), 'hi for frank');
  await tapOn(page, page.view(), '离开'); // out of the bot's room
  await tapOn(page, page.view(), '开始匹配');
  other.emit('join');
  await waitFor(() => page.data.state === 'playing', 'start with frank');
  assert.match(page.sees(), /对手：Frank/);
  const start = seen.find(([e]) => e === 'start')[1];
  assert.ok(!JSON.stringify(start).includes(page.data.uid), 'frank never sees the openId');
  other.emit('face', { face: 1 });
  await waitFor(() => page.data.opponentFace, 'frank\'s face');
  assert.match(page.sees(), /对手：Frank 😀/, 'the opponent\'s face is shown');
  other.emit('choice', { choice: 3 });
  await waitFor(() => page.data.opponentMoved, 'movement from frank');
  assert.match(page.sees(), /对手已出拳/);
  await tapOn(page, page.view(), '剪刀'); // scissors beats paper
  await waitFor(() => page.data.state === 'result', 'result with frank');
  assert.match(page.sees(), /你赢了/);
  await waitFor(() => seen.some(([e]) => e === 'result'), 'frank sees the result');
  await tapOn(page, page.view(), '离开');
  await waitFor(() => seen.some(([e, d]) => e === 'leave' && /^player-/.test(d.uid)), 'frank sees the page leave, by its pseudonym');
  assert.ok(!JSON.stringify(seen).includes(page.data.uid), 'no openId reached frank');
});
