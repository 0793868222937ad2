// Promise wrappers over the callback style wx APIs.
function call(api, options) {
  return new Promise((resolve, reject) => {
    api(Object.assign({}, options, { success: resolve, fail: reject }));
  });
}

module.exports = { call };
