const config = require('../../config.js');
const session = require('../../lib/session.js');

const url = (path) => config.host + '/applet/session/paints' + path;

Page({
  data: { paints: [], color: '#222222', error: '' },

  onLoad() {
    this.actions = [];
    return this.list();
  },

  onReady() {
    // Canvas 2D; absent where there is no renderer, and then only the actions are kept.
    if (!wx.createSelectorQuery) return;
    wx.createSelectorQuery().select('#canvas').fields({ node: true, size: true }).exec((res) => {
      const node = res && res[0] && res[0].node;
      if (!node) return;
      this.ctx = node.getContext('2d');
    });
  },

  touchStart(e) {
    const t = e.touches[0];
    this.actions.push({ type: 'move', x: t.x, y: t.y, color: this.data.color });
    if (this.ctx) {
      this.ctx.strokeStyle = this.data.color;
      this.ctx.beginPath();
      this.ctx.moveTo(t.x, t.y);
    }
  },

  touchMove(e) {
    const t = e.touches[0];
    this.actions.push({ type: 'line', x: t.x, y: t.y });
    if (this.ctx) {
      this.ctx.lineTo(t.x, t.y);
      this.ctx.stroke();
    }
  },

  touchEnd() {},

  clear() {
    this.actions = [];
    if (this.ctx) this.ctx.clearRect(0, 0, 10000, 10000);
  },

  async list() {
    try {
      const res = await session.request({ url: url('/list'), method: 'GET' });
      if (res.data.code !== 0) throw new Error(res.data.error && res.data.error.reason);
      this.setData({ paints: res.data.data.map((p) => ({ id: p.id, actions: p.actions, steps: JSON.parse(p.actions).length })), error: '' }, () => this.drawThumbs());
    } catch (err) {
      this.setData({ error: err.message || '加载失败' });
    }
  },

  // drawThumbs replays each saved drawing's actions, scaled down, into its list canvas.
  drawThumbs() {
    if (!wx.createSelectorQuery) return;
    this.data.paints.forEach((p) => {
      wx.createSelectorQuery().select('#thumb-' + p.id).fields({ node: true, size: true }).exec((res) => {
        const node = res && res[0] && res[0].node;
        if (!node) return;
        const ctx = node.getContext('2d');
        const scale = res[0].width / 375;
        ctx.clearRect(0, 0, res[0].width, res[0].height);
        JSON.parse(p.actions).forEach((a) => {
          if (a.type === 'move') {
            ctx.stroke();
            ctx.strokeStyle = a.color || '#222';
            ctx.beginPath();
            ctx.moveTo(a.x * scale, a.y * scale);
          } else {
            ctx.lineTo(a.x * scale, a.y * scale);
          }
        });
        ctx.stroke();
      });
    });
  },

  async save() {
    if (this.actions.length === 0) return;
    const id = Date.now().toString(36);
    // actions travel as a JSON string and come back exactly as sent.
    let res;
    try {
      res = await session.request({ url: url('/save'), method: 'POST', data: { id, actions: JSON.stringify(this.actions) } });
    } catch (err) {
      wx.showToast({ title: err.message || '保存失败', icon: 'none' }); // the drawing stays on the canvas
      return;
    }
    if (res.data.code !== 0) {
      wx.showToast({ title: (res.data.error && res.data.error.reason) || '保存失败', icon: 'none' });
      return;
    }
    this.clear();
    await this.list();
  },

  async remove(e) {
    let res;
    try {
      res = await session.request({ url: url('/delete'), method: 'POST', data: { id: e.currentTarget.dataset.id } });
    } catch (err) {
      wx.showToast({ title: err.message || '删除失败', icon: 'none' });
      return;
    }
    if (res.data.code === 0) await this.list();
  },
});
