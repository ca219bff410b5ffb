/* A session that has ended (logged out in another tab, idle too long, a new password) answers
   the page's next update with 401: go to the login page, which brings the reader back here. */
(function () {
  var original = window.fetch;
  if (!original) {
    return;
  }
  var leaving = false;
  window.fetch = function () {
    return original.apply(this, arguments).then(function (response) {
      if (response.status === 401 && !leaving && /\/_dash-/.test(response.url)) {
        leaving = true;
        var here = window.location.pathname + window.location.search;
        window.location.assign("/login?next=" + encodeURIComponent(here));
      }
      return response;
    });
  };
})();
