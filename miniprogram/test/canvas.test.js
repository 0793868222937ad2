// Drawing on a phone's screen: the canvas's backing store is its element's size × the pixel ratio,
// so a touch lands where the finger is, sharp, on 2x and 3x screens; saved drawings stay out of
// setData, whose 1 MB limit a few drawings would exceed.
const test = require('node:test');
const assert = require('node:assert');
const { startServer, loadPage, createWx } = require('./harness.js');

let server;
test.before(async () => { server = await startServer(); });
test.after(async () => { await server.stop(); });

for (const dpr of [2, 3]) {
  test(`a touch lands where the finger is on a ${dpr}x screen`, async () => {
    const wx = createWx('painter' + dpr);
    wx.pixelRatio = dpr;
    const page = loadPage('draw', wx);
    await page.onLoad();
    page.onReady();
    const node = wx.canvases['#canvas'];
    assert.deepStrictEqual([node.width, node.height], [375 * dpr, 375 * dpr], 'backing store = element × pixel ratio');
    page.touchStart({ touches: [{ x: 100, y: 100 }] });
    page.touchMove({ touches: [{ x: 300, y: 50 }] });
    // Where the touch is on the element, as a fraction, is where the paint is in the store.
    const [[x0, y0], [x1, y1]] = node.points;
    assert.deepStrictEqual([x0 / node.width, y0 / node.height], [100 / 375, 100 / 375]);
    assert.deepStrictEqual([x1 / node.width, y1 / node.height], [300 / 375, 50 / 375]);
  });
}

test('drawings of several hundred KB each stay out of setData', async () => {
  const wx = createWx('bigpainter');
  const page = loadPage('draw', wx);
  await page.onLoad();
  page.onReady();
  for (let d = 0; d < 3; d++) {
    page.touchStart({ touches: [{ x: 1, y: 1 }] });
    for (let i = 0; i < 22000; i++) page.touchMove({ touches: [{ x: 100 + (i % 200), y: 100 + ((i * 7) % 200) }] });
    assert.ok(JSON.stringify(page.actions).length > 600 * 1024);
    await page.save();
    assert.strictEqual(wx.toasts.at(-1), '已保存', 'saved: ' + wx.toasts.at(-1));
  }
  assert.strictEqual(page.data.paints.length, 3);
  assert.ok(page.maxSetData < 16 * 1024, 'the largest setData was ' + page.maxSetData + ' bytes');
  assert.match(page.sees(), /22001 笔/);
  // The thumbnails were drawn from the kept actions, in canvases sized for the screen.
  const thumb = wx.canvases['#thumb-' + page.data.paints[0].id];
  assert.ok(thumb && thumb.points.length > 1000 && thumb.width === 60 * wx.pixelRatio);
});
