const config = require('../../config.js');
const { call } = require('../../lib/wxp.js');

const base = () => config.host + '/applet/video';

Page({
  data: { id: 0, title: '', src: '', comments: [], next: '', draft: '', nick: '', posting: false },

  onLoad(query) {
    this.setData({ id: Number(query.id), title: decodeURIComponent(query.title || ''), src: decodeURIComponent(query.src || '') });
    return this.loadComments('');
  },

  async loadComments(before) {
    const url = base() + '/commentList?vid=' + this.data.id + '&limit=20' + (before ? '&before=' + before : '');
    const res = await call(wx.request, { url });
    if (res.data.code !== 0) return;
    this.setData({ comments: (before ? this.data.comments : []).concat(res.data.data), next: res.data.next || '' });
  },

  onReachBottom() {
    if (this.data.next) return this.loadComments(this.data.next);
  },

  onInput(e) {
    this.setData({ draft: e.detail.value });
  },

  onNick(e) {
    this.setData({ nick: e.detail.value });
  },

  async postComment() {
    const content = this.data.draft.trim();
    if (!content || this.data.posting) return;
    this.setData({ posting: true });
    try {
      const res = await call(wx.request, {
        url: base() + '/comment',
        method: 'POST',
        data: { vid: this.data.id, nick: this.data.nick.trim() || '匿名用户', avatar: 'https://thirdwx.qlogo.cn/default.png', content },
      });
      if (res.data.code !== 0) {
        wx.showToast({ title: (res.data.error && res.data.error.reason) || '发表失败', icon: 'none' });
        return;
      }
      this.setData({ draft: '' });
      await this.loadComments('');
    } finally {
      this.setData({ posting: false });
    }
  },
});
