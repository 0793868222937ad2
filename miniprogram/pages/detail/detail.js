const config = require('../../config.js');
const { call } = require('../../lib/wxp.js');
const errors = require('../../lib/errors.js');
const http = require('../../lib/http.js');
const session = require('../../lib/session.js');

const base = () => config.host + '/applet/video';

Page({
  data: { id: 0, title: '', src: '', comments: [], next: '', draft: '', nick: '', posting: false, loading: false, loaded: false, error: '' },

  onLoad(query) {
    this.setData({ id: Number(query.id), title: decodeURIComponent(query.title || ''), src: decodeURIComponent(query.src || '') });
    return this.loadComments('');
  },

  async loadComments(before) {
    if (this.data.loading) return; // a fast scroll asks for the same page twice
    this.setData({ loading: true, error: '' });
    try {
      const url = base() + '/commentList?vid=' + this.data.id + '&limit=20' + (before ? '&before=' + before : '');
      const d = await http.getJSON(url);
      this.setData({ comments: (before ? this.data.comments : []).concat(d.data), next: d.next || '', loaded: true });
    } catch (err) {
      this.setData({ error: errors.message(err, '评论加载失败') });
    } finally {
      this.setData({ loading: false });
    }
  },

  retry() {
    return this.loadComments(this.data.loaded ? this.data.next : '');
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
    // No avatar of our own making: a comment without one shows none.
    const opts = { url: base() + '/comment', method: 'POST', data: { vid: this.data.id, nick: this.data.nick.trim() || '匿名用户', avatar: '', content } };
    try {
      try {
        http.check(this.needLogin ? await session.request(opts) : await call(wx.request, opts));
      } catch (err) {
        // With content checks the server wants to know the writer: sign in and post again.
        if (!(err.name === 'UserError' && err.body && err.body.msg === '请先登录') || this.needLogin) throw err;
        this.needLogin = true;
        http.check(await session.request(opts));
      }
      this.setData({ draft: '' });
      wx.showToast({ title: '已发表' });
      await this.loadComments('');
    } catch (err) {
      wx.showToast({ title: errors.message(err, '发表失败，请重试'), icon: 'none' }); // the draft stays
    } finally {
      this.setData({ posting: false });
    }
  },
});
