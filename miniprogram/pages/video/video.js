const config = require('../../config.js');
const { call } = require('../../lib/wxp.js');

Page({
  data: { list: [], pageNo: 0, totalPage: 1, loading: false, error: '' },

  onLoad() {
    return this.loadMore();
  },

  onReachBottom() {
    return this.loadMore();
  },

  async loadMore() {
    if (this.data.loading || this.data.pageNo >= this.data.totalPage) return;
    const pageNo = this.data.pageNo + 1;
    this.setData({ loading: true, error: '' });
    try {
      const res = await call(wx.request, { url: config.host + '/applet/video/list?pageNo=' + pageNo });
      if (res.data.code !== 0) throw new Error(res.data.msg);
      this.setData({ list: this.data.list.concat(res.data.data.list), pageNo, totalPage: res.data.data.totalPage });
    } catch (err) {
      this.setData({ error: '加载失败' });
    } finally {
      this.setData({ loading: false });
    }
  },

  openVideo(e) {
    const v = this.data.list[e.currentTarget.dataset.index];
    wx.navigateTo({ url: '/pages/detail/detail?id=' + v.id + '&title=' + encodeURIComponent(v.video_title) + '&src=' + encodeURIComponent(v.video_url) });
  },
});
