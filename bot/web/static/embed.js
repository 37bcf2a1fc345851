/*! Matinee comments widget. One file, no framework, no build step.
 *
 *   <div class="matinee-comments"></div>
 *   <script src="https://matinee.example/embed.js" async></script>
 *
 * Options on the div: data-url or data-review (which review; default: the page's
 * canonical URL, else its address without query or fragment), data-theme
 * (light | dark | auto), data-lang, data-sort (newest | oldest | top).
 * <span class="matinee-count" data-url="…"></span> elements get "N comments".
 * Themes: the --matinee-* custom properties listed in CSS below. Translations:
 * set window.MatineeLocales = {fr: {...same keys as STRINGS.en...}} before this script.
 *
 * Safety: member content is inserted only as text, or as the server's sanitised
 * content_html, which is sanitised again here against a short allow-list. No
 * cookies are sent, and nothing is requested from any host but this server.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src) return;
  var API = new URL(".", script.src).href; // the directory embed.js is served from, ending in "/"
  var PAGE_SIZE = 50;
  var POLL_MIN = 5000;
  var POLL_MAX = 120000;
  var SSE_FAILURES_BEFORE_POLLING = 3;

  // ------------------------------------------------------------------ strings (one table per language)

  var STRINGS = {
    en: {
      heading: "Comments",
      loading: "Loading the discussion…",
      failed: "The comments could not be loaded right now.",
      gone: "This discussion is no longer shown here.",
      empty: "No comments yet. Be the first: join the discussion on Discord.",
      comments: { one: "{n} comment", other: "{n} comments" },
      votes: { one: "{n} vote", other: "{n} votes" },
      rating: "Community rating",
      noVotes: "No votes yet",
      average: "{avg} out of 5",
      stars: { one: "{n} star", other: "{n} stars" },
      showMore: "Show more comments",
      join: "Join the discussion on Discord",
      joinServer: "Join the discussion on {server}",
      invite: "Not a member yet? Join the server",
      edited: "(edited)",
      editedAt: "Edited {time}",
      fromBlog: "on the blog",
      fromBlogTitle: "Left on the blog, not in Discord",
      spoiler: "Spoiler: click to reveal",
      attachment: "Attachment: {name}",
      reactions: "Reactions",
      live: "Live",
      justNow: "just now"
    }
  };

  function localeTable(lang) {
    var extra = (window.MatineeLocales && window.MatineeLocales[lang]) || STRINGS[lang] || {};
    var table = {};
    var key;
    for (key in STRINGS.en) table[key] = STRINGS.en[key];
    for (key in extra) table[key] = extra[key];
    return table;
  }

  function format(text, vars) {
    return String(text).replace(/\{(\w+)\}/g, function (_, name) {
      return vars && name in vars ? String(vars[name]) : "";
    });
  }

  function plural(strings, key, n, lang) {
    var forms = strings[key];
    var category = "other";
    try {
      category = new Intl.PluralRules(lang).select(n);
    } catch (e) { /* an unknown language: English rules */ }
    return format(forms[category] || forms.other, { n: n.toLocaleString(lang) });
  }

  // ------------------------------------------------------------------ styles (shadow DOM: the blog's CSS stays out)

  var CSS = [
    ":host { all: initial; display: block; contain: content; }",
    ":host {",
    "  /* public theme variables: set them on .matinee-comments in the blog's CSS */",
    "  --_font: var(--matinee-font, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);",
    "  --_size: var(--matinee-font-size, 16px);",
    "  --_radius: var(--matinee-radius, 10px);",
    "  --_accent: var(--matinee-accent, #5865f2);",
    "  --_accent-text: var(--matinee-accent-text, #ffffff);",
    "  --_text: var(--matinee-text, #1f2328);",
    "  --_muted: var(--matinee-muted, #59636e);",
    "  --_bg: var(--matinee-background, #ffffff);",
    "  --_surface: var(--matinee-surface, #f6f8fa);",
    "  --_border: var(--matinee-border, #d1d9e0);",
    "  --_spoiler: var(--matinee-spoiler, #202225);",
    "  --_bar: var(--matinee-bar, #f0b232);",
    "  color-scheme: light;",
    "}",
    ":host([data-theme='dark']) {",
    "  --_text: var(--matinee-text, #e3e5e8); --_muted: var(--matinee-muted, #a3a6aa);",
    "  --_bg: var(--matinee-background, #1e1f22); --_surface: var(--matinee-surface, #2b2d31);",
    "  --_border: var(--matinee-border, #3f4147); --_spoiler: var(--matinee-spoiler, #111214);",
    "  color-scheme: dark;",
    "}",
    "@media (prefers-color-scheme: dark) {",
    "  :host(:not([data-theme='light'])) {",
    "    --_text: var(--matinee-text, #e3e5e8); --_muted: var(--matinee-muted, #a3a6aa);",
    "    --_bg: var(--matinee-background, #1e1f22); --_surface: var(--matinee-surface, #2b2d31);",
    "    --_border: var(--matinee-border, #3f4147); --_spoiler: var(--matinee-spoiler, #111214);",
    "    color-scheme: dark;",
    "  }",
    "}",
    ".root { font-family: var(--_font); font-size: var(--_size); line-height: 1.5; color: var(--_text);",
    "  background: var(--_bg); border: 1px solid var(--_border); border-radius: var(--_radius); padding: 1.25em; }",
    "h2 { font-size: 1.25em; margin: 0 0 .75em; display: flex; gap: .5em; align-items: baseline; }",
    "h2 .count { font-size: .8em; font-weight: normal; color: var(--_muted); }",
    ".live { font-size: .7em; color: #23a55a; font-weight: 600; text-transform: uppercase; letter-spacing: .05em; }",
    ".live[hidden] { display: none; }",
    ".status { color: var(--_muted); margin: .5em 0; }",
    ".rating { background: var(--_surface); border-radius: var(--_radius); padding: .75em 1em; margin-bottom: 1em; }",
    ".rating .summary { display: flex; gap: .75em; align-items: baseline; margin-bottom: .25em; }",
    ".rating .avg { font-size: 1.6em; font-weight: 700; }",
    ".rating .label { font-weight: 600; }",
    ".rating .votes { color: var(--_muted); }",
    ".dist { list-style: none; margin: 0; padding: 0; font-size: .85em; }",
    ".dist li { display: grid; grid-template-columns: 4.5em 1fr 2.5em; gap: .5em; align-items: center; }",
    ".dist .track { background: var(--_border); border-radius: 4px; height: .55em; overflow: hidden; }",
    ".dist .fill { background: var(--_bar); height: 100%; }",
    ".dist .n { text-align: right; color: var(--_muted); }",
    ".list, .replies { list-style: none; margin: 0; padding: 0; }",
    ".replies { margin-left: 1.25em; padding-left: .9em; border-left: 2px solid var(--_border); }",
    ".comment { display: grid; grid-template-columns: 2.25em 1fr; gap: .75em; margin: 1em 0 0; }",
    ".avatar { width: 2.25em; height: 2.25em; border-radius: 50%; background: var(--_accent); color: var(--_accent-text);",
    "  display: flex; align-items: center; justify-content: center; font-size: .85em; font-weight: 700; }",
    ".meta { display: flex; flex-wrap: wrap; gap: .5em; align-items: baseline; }",
    ".author { font-weight: 600; }",
    ".meta time, .edited, .source { color: var(--_muted); font-size: .85em; }",
    ".source a { color: inherit; }",
    ".from-blog > .avatar { background: var(--_surface); color: var(--_text); border: 1px solid var(--_border); }",
    ".body { overflow-wrap: anywhere; }",
    ".body pre { background: var(--_surface); padding: .5em; border-radius: 6px; overflow: auto; }",
    ".body code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; }",
    ".body a, .attachments a, .discord a { color: var(--_accent); }",
    ".spoiler { border-radius: 4px; cursor: pointer; background: var(--_surface); }",
    ".spoiler:not(.revealed) { background: var(--_spoiler); color: transparent; }",
    ".spoiler:not(.revealed) * { visibility: hidden; }",
    ".attachments { margin: .25em 0 0; padding: 0; list-style: none; font-size: .9em; }",
    ".reactions { display: flex; flex-wrap: wrap; gap: .35em; margin-top: .35em; }",
    ".reaction { background: var(--_surface); border: 1px solid var(--_border); border-radius: 1em;",
    "  padding: 0 .55em; font-size: .85em; }",
    ".more { margin-top: 1em; }",
    "button { font: inherit; color: var(--_text); background: var(--_surface); border: 1px solid var(--_border);",
    "  border-radius: var(--_radius); padding: .4em 1em; cursor: pointer; }",
    ".discord { display: flex; flex-wrap: wrap; gap: .75em; align-items: center; margin-top: 1.25em; }",
    ".discord a.join { background: var(--_accent); color: var(--_accent-text); text-decoration: none;",
    "  border-radius: var(--_radius); padding: .5em 1em; font-weight: 600; }",
    "[hidden] { display: none !important; }"
  ].join("\n");

  // ------------------------------------------------------------------ small helpers

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function isHttp(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url);
  }

  function link(href, className, text) {
    var a = el("a", className, text);
    if (isHttp(href)) a.href = href;
    a.rel = "nofollow ugc noopener noreferrer";
    a.target = "_blank";
    return a;
  }

  function initials(name) {
    var words = String(name || "?").trim().split(/\s+/).filter(Boolean);
    var letters = words.slice(0, 2).map(function (w) { return Array.from(w)[0] || ""; }).join("");
    return (letters || "?").toUpperCase();
  }

  function log(message, error) {
    if (window.console) console.error("[matinee] " + message, error || "");
  }

  // The server's content_html is already safe; copying it through this allow-list makes sure.
  var ALLOWED = { STRONG: 1, EM: 1, U: 1, DEL: 1, CODE: 1, PRE: 1, BR: 1, SPAN: 1, A: 1, P: 1 };

  function sanitised(html, strings) {
    var template = document.createElement("template"); // inert: nothing in it loads or runs
    template.innerHTML = String(html || "");
    var out = document.createDocumentFragment();
    copy(template.content, out, strings);
    return out;
  }

  function copy(from, to, strings) {
    Array.prototype.forEach.call(from.childNodes, function (node) {
      if (node.nodeType === 3) {
        to.appendChild(document.createTextNode(node.nodeValue));
      } else if (node.nodeType === 1 && ALLOWED[node.tagName]) {
        var clean;
        if (node.tagName === "A") {
          clean = link(node.getAttribute("href"), "");
        } else {
          clean = document.createElement(node.tagName.toLowerCase());
          if (node.tagName === "SPAN" && node.getAttribute("class") === "matinee-spoiler") {
            makeSpoiler(clean, strings);
          }
        }
        copy(node, clean, strings);
        to.appendChild(clean);
      } else if (node.nodeType === 1) {
        copy(node, to, strings); // an unexpected element: keep its text, drop the element
      }
    });
  }

  function makeSpoiler(span, strings) {
    span.className = "spoiler";
    span.setAttribute("role", "button");
    span.setAttribute("tabindex", "0");
    span.setAttribute("aria-label", strings.spoiler);
    span.title = strings.spoiler;
    function reveal(event) {
      if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") return;
      if (!span.classList.contains("revealed")) {
        event.preventDefault();
        span.classList.add("revealed");
        span.removeAttribute("aria-label");
        span.removeAttribute("title");
      }
    }
    span.addEventListener("click", reveal);
    span.addEventListener("keydown", reveal);
  }

  function relativeTime(iso, lang, strings) {
    var then = Date.parse(iso);
    if (isNaN(then)) return "";
    var seconds = Math.round((then - Date.now()) / 1000);
    if (Math.abs(seconds) < 45) return strings.justNow;
    var units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(seconds) >= units[i][1] || units[i][0] === "minute") {
        var value = Math.round(seconds / units[i][1]);
        try {
          return new Intl.RelativeTimeFormat(lang, { numeric: "auto" }).format(value, units[i][0]);
        } catch (e) {
          return new Date(then).toLocaleDateString();
        }
      }
    }
    return "";
  }

  function exactTime(iso, lang) {
    var then = new Date(Date.parse(iso));
    try {
      return then.toLocaleString(lang, { dateStyle: "full", timeStyle: "short" });
    } catch (e) {
      return then.toString();
    }
  }

  function reactionLabel(key) {
    var custom = /^(\w{1,32}):\d+$/.exec(key);
    return custom ? ":" + custom[1] + ":" : key;
  }

  function query(key, extra) {
    var params = new URLSearchParams();
    if (key.review) params.set("review", key.review);
    else params.set("url", key.url);
    for (var name in extra || {}) params.set(name, extra[name]);
    return params.toString();
  }

  function getJSON(path) {
    return fetch(API + path, { credentials: "omit", mode: "cors", cache: "no-cache" }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          var error = new Error(body.error || "HTTP " + response.status);
          error.status = response.status;
          throw error;
        });
      }
      return response.json().then(function (body) {
        return { body: body, etag: response.headers.get("ETag") };
      });
    });
  }

  // ------------------------------------------------------------------ the widget

  function Widget(host) {
    var data = host.dataset;
    this.host = host;
    this.lang = data.lang || document.documentElement.lang || "en";
    this.lang = this.lang.split("-")[0].toLowerCase();
    this.strings = localeTable(this.lang);
    this.sort = { newest: 1, oldest: 1, top: 1 }[data.sort] ? data.sort : "newest";
    this.key = pageKey(host);
    this.nodes = {}; // comment id -> {el, own, replies}
    this.loaded = 0; // top-level comments shown
    this.timers = [];
    this.root = host.shadowRoot || host.attachShadow({ mode: "open" });
    var style = el("style");
    style.textContent = CSS;
    this.root.appendChild(style);
    this.box = el("section", "root");
    this.box.setAttribute("aria-label", this.strings.heading);
    this.heading = el("h2", "", this.strings.heading);
    this.countEl = el("span", "count");
    this.liveEl = el("span", "live", this.strings.live);
    this.liveEl.hidden = true;
    this.heading.appendChild(this.countEl);
    this.heading.appendChild(this.liveEl);
    this.ratingEl = el("div", "rating");
    this.ratingEl.hidden = true;
    this.status = el("p", "status", this.strings.loading);
    this.list = el("ol", "list");
    this.moreButton = el("button", "more", this.strings.showMore);
    this.moreButton.type = "button";
    this.moreButton.hidden = true;
    this.discord = el("div", "discord");
    this.box.append(this.heading, this.ratingEl, this.status, this.list, this.moreButton, this.discord);
    this.root.appendChild(this.box);
    var self = this;
    this.moreButton.addEventListener("click", function () { self.more(); });
    this.whenVisible(function () { self.load(); });
  }

  function pageKey(host) {
    var data = host.dataset;
    switch (true) {
      case Boolean(data.review):
        return { review: data.review };
      case Boolean(data.url):
        return { url: new URL(data.url, document.baseURI).href };
      case Boolean(document.querySelector("link[rel='canonical'][href]")):
        return { url: document.querySelector("link[rel='canonical'][href]").href };
      default:
        var here = new URL(location.href);
        here.search = "";
        here.hash = "";
        return { url: here.href };
    }
  }

  Widget.prototype.whenVisible = function (callback) {
    if (!("IntersectionObserver" in window)) return callback();
    var self = this;
    this.observer = new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; })) {
        self.observer.disconnect();
        self.observer = null;
        callback();
      }
    }, { rootMargin: "800px 0px" });
    this.observer.observe(this.host);
  };

  Widget.prototype.load = function () {
    var self = this;
    return getJSON("v1/comments?" + query(this.key, { sort: this.sort, limit: PAGE_SIZE })).then(function (result) {
      self.render(result.body, result.etag);
      self.startLive();
    }).catch(function (error) {
      self.status.textContent = self.strings.failed;
      self.status.hidden = false;
      log("could not load the comments: " + error.message, error);
    });
  };

  Widget.prototype.render = function (doc, etag) {
    this.doc = doc;
    this.etag = etag;
    this.slug = doc.review.slug;
    this.nodes = {};
    this.list.textContent = "";
    this.loaded = 0;
    this.appendThreads(doc.comments);
    this.nextOffset = doc.page ? doc.page.next_offset : null;
    this.moreButton.hidden = this.nextOffset === null || this.nextOffset === undefined;
    this.setCount(doc.comment_count);
    this.renderRating(doc.rating_summary);
    this.renderDiscord(doc.discussions || []);
    this.status.hidden = doc.comment_count > 0;
    this.status.textContent = doc.comment_count > 0 ? "" : this.strings.empty;
  };

  Widget.prototype.appendThreads = function (threads) {
    var self = this;
    threads.forEach(function (node) {
      if (self.nodes[node.id]) return; // already shown (a page shifted by a new comment)
      self.list.appendChild(self.comment(node));
      self.loaded += 1;
    });
  };

  Widget.prototype.more = function () {
    var self = this;
    if (this.nextOffset === null || this.nextOffset === undefined) return;
    this.moreButton.disabled = true;
    getJSON("v1/comments?" + query(this.key, { sort: this.sort, limit: PAGE_SIZE, offset: this.nextOffset }))
      .then(function (result) {
        self.appendThreads(result.body.comments);
        self.nextOffset = result.body.page.next_offset;
        self.moreButton.hidden = self.nextOffset === null;
      })
      .catch(function (error) { log("could not load more comments", error); })
      .then(function () { self.moreButton.disabled = false; });
  };

  Widget.prototype.comment = function (node) {
    var item = el("li", node.source === "blog" ? "comment from-blog" : "comment");
    item.dataset.id = node.id;
    item.appendChild(el("div", "avatar", initials(node.author))).setAttribute("aria-hidden", "true");
    var main = el("div", "main");
    var own = el("div", "own");
    var replies = el("ol", "replies");
    main.append(own, replies);
    item.appendChild(main);
    var entry = { el: item, own: own, replies: replies };
    this.nodes[node.id] = entry;
    this.fill(entry, node);
    var self = this;
    (node.replies || []).forEach(function (reply) { replies.appendChild(self.comment(reply)); });
    replies.hidden = !replies.childElementCount;
    return item;
  };

  Widget.prototype.fill = function (entry, node) {
    var s = this.strings;
    var own = entry.own;
    own.textContent = "";
    entry.el.querySelector(".avatar").textContent = initials(node.author);
    var meta = el("div", "meta");
    meta.appendChild(el("span", "author", node.author));
    if (node.source === "blog") {
      // A blog reader's comment (mirrored into Discord); said as text, linked to its place on the blog.
      var source = el("span", "source");
      source.title = s.fromBlogTitle;
      source.appendChild(isHttp(node.url) ? link(node.url, "", s.fromBlog) : document.createTextNode(s.fromBlog));
      meta.appendChild(source);
    }
    var time = el("time", "", relativeTime(node.created_at, this.lang, s));
    time.dateTime = node.created_at;
    time.title = exactTime(node.created_at, this.lang);
    meta.appendChild(time);
    if (node.edited_at) {
      var edited = el("span", "edited", s.edited);
      edited.title = format(s.editedAt, { time: exactTime(node.edited_at, this.lang) });
      meta.appendChild(edited);
    }
    own.appendChild(meta);
    var body = el("div", "body");
    body.appendChild(sanitised(node.content_html, s));
    own.appendChild(body);
    var attachments = (node.attachments || []).filter(isHttp);
    if (attachments.length) {
      var files = el("ul", "attachments");
      attachments.forEach(function (url) {
        var name = decodeURIComponent(url.split("?")[0].split("/").pop() || "file");
        var item = el("li");
        item.appendChild(link(url, "", format(s.attachment, { name: name })));
        files.appendChild(item);
      });
      own.appendChild(files);
    }
    var reactions = Object.keys(node.reactions || {});
    if (reactions.length) {
      var bar = el("div", "reactions");
      bar.setAttribute("aria-label", s.reactions);
      reactions.forEach(function (key) {
        bar.appendChild(el("span", "reaction", reactionLabel(key) + " " + node.reactions[key]));
      });
      own.appendChild(bar);
    }
  };

  Widget.prototype.setCount = function (n) {
    if (typeof n !== "number") return;
    this.count = n;
    this.countEl.textContent = plural(this.strings, "comments", n, this.lang);
    this.status.hidden = n > 0;
    if (n === 0) this.status.textContent = this.strings.empty;
  };

  Widget.prototype.renderRating = function (summary) {
    var s = this.strings;
    var poll = summary && summary.poll;
    var box = this.ratingEl;
    box.textContent = "";
    if (!poll) { box.hidden = true; return; }
    box.hidden = false;
    var head = el("div", "summary");
    head.appendChild(el("span", "label", s.rating));
    if (!poll.votes) {
      head.appendChild(el("span", "votes", s.noVotes));
      box.appendChild(head);
      return;
    }
    var avg = el("span", "avg", "★ " + Number(poll.average).toLocaleString(this.lang, { maximumFractionDigits: 1 }));
    avg.title = format(s.average, { avg: poll.average });
    head.append(avg, el("span", "votes", plural(s, "votes", poll.votes, this.lang)));
    box.appendChild(head);
    var dist = el("ol", "dist");
    for (var star = 5; star >= 1; star--) {
      var n = poll.counts[String(star)] || 0;
      var row = el("li");
      row.setAttribute("aria-label", plural(s, "stars", star, this.lang) + ": " + plural(s, "votes", n, this.lang));
      var track = el("span", "track");
      var fill = el("span", "fill");
      fill.style.display = "block";
      fill.style.width = (poll.votes ? Math.round((100 * n) / poll.votes) : 0) + "%";
      track.appendChild(fill);
      row.append(el("span", "stars", "★".repeat(star)), track, el("span", "n", n));
      dist.appendChild(row);
    }
    box.appendChild(dist);
  };

  Widget.prototype.renderDiscord = function (discussions) {
    var s = this.strings;
    var box = this.discord;
    box.textContent = "";
    discussions.forEach(function (d) {
      var text = discussions.length > 1 && d.server ? format(s.joinServer, { server: d.server }) : s.join;
      box.appendChild(link(d.thread_url, "join", text));
      if (isHttp(d.invite_url)) box.appendChild(link(d.invite_url, "invite", s.invite));
    });
    box.hidden = !discussions.length;
  };

  // ------------------------------------------------------------------ live updates

  Widget.prototype.startLive = function () {
    this.stopLive();
    if (typeof window.EventSource !== "function") return this.startPolling();
    var self = this;
    var url = API + "v1/events?" + new URLSearchParams({ review: this.slug, since: String(this.doc.seq) });
    var source = new EventSource(url); // never with credentials: no cookies
    this.source = source;
    this.failures = 0;
    function on(name, handler) {
      source.addEventListener(name, function (event) {
        try {
          handler.call(self, JSON.parse(event.data));
        } catch (error) {
          log("could not apply a live update", error);
        }
      });
    }
    on("ready", function () { this.failures = 0; this.liveEl.hidden = false; });
    on("comment", this.onComment);
    on("remove", this.onRemove);
    on("rating", function (data) { this.renderRating(data.rating_summary); });
    on("reload", function () { this.reload(); });
    source.onerror = function () {
      self.liveEl.hidden = true;
      self.failures += 1;
      if (source.readyState === 2 || self.failures >= SSE_FAILURES_BEFORE_POLLING) {
        log("live updates failed; polling instead");
        self.startPolling();
      }
    };
    this.tickTimes();
  };

  Widget.prototype.stopLive = function () {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
  };

  Widget.prototype.startPolling = function () {
    this.stopLive();
    this.liveEl.hidden = true;
    this.pollDelay = POLL_MIN;
    this.schedulePoll();
  };

  Widget.prototype.schedulePoll = function () {
    var self = this;
    this.pollTimer = setTimeout(function () {
      self.refetch().then(function (changed) {
        self.pollDelay = changed ? POLL_MIN : Math.min(POLL_MAX, Math.round(self.pollDelay * 1.5));
      }, function (error) {
        if (error.status === 404) return self.gone(); // clears pollTimer: no next poll
        self.pollDelay = Math.min(POLL_MAX, self.pollDelay * 2);
        log("polling failed; backing off", error);
      }).then(function () { if (self.pollTimer) self.schedulePoll(); });
    }, this.pollDelay);
  };

  // Fetch everything shown so far again; true when it changed.
  Widget.prototype.refetch = function () {
    var self = this;
    var limit = Math.min(500, Math.max(PAGE_SIZE, this.loaded));
    return getJSON("v1/comments?" + query(this.key, { sort: this.sort, limit: limit })).then(function (result) {
      if (result.etag && result.etag === self.etag) return false;
      var revealed = self.revealedSpoilers();
      self.render(result.body, result.etag);
      self.restoreSpoilers(revealed);
      return true;
    });
  };

  // The server said "the list changed": fetch it again. Another server process behind a load balancer
  // may not have seen the change yet, so an unchanged answer is asked once more a moment later.
  Widget.prototype.reload = function (again) {
    var self = this;
    return this.refetch().then(function (changed) {
      if (!changed && !again) setTimeout(function () { self.reload(true); }, 1500);
    }, function (error) {
      if (error.status === 404) return self.gone();
      log("could not reload the comments", error);
    });
  };

  // The review the page showed is no longer served (withdrawn from the blog, or removed): show none
  // of its discussion, and stop listening. A page opened later finds it again if it comes back.
  Widget.prototype.gone = function () {
    this.stopLive();
    this.liveEl.hidden = true;
    this.list.textContent = "";
    this.nodes = {};
    this.loaded = 0;
    this.moreButton.hidden = true;
    this.countEl.textContent = "";
    this.renderRating(null);
    this.renderDiscord([]);
    this.status.textContent = this.strings.gone;
    this.status.hidden = false;
  };

  Widget.prototype.revealedSpoilers = function () {
    var ids = {};
    Array.prototype.forEach.call(this.list.querySelectorAll(".spoiler.revealed"), function (span) {
      var item = span.closest(".comment");
      if (item) ids[item.dataset.id] = true;
    });
    return ids;
  };

  Widget.prototype.restoreSpoilers = function (ids) {
    for (var id in ids) {
      var entry = this.nodes[id];
      if (entry) {
        Array.prototype.forEach.call(entry.own.querySelectorAll(".spoiler"), function (span) {
          span.classList.add("revealed");
        });
      }
    }
  };

  Widget.prototype.onComment = function (data) {
    var node = data.comment;
    var entry = this.nodes[node.id];
    if (entry) {
      this.fill(entry, node);
    } else {
      var item = this.comment(node);
      var parent = data.parent_id ? this.nodes[data.parent_id] : null;
      if (parent) {
        parent.replies.appendChild(item);
        parent.replies.hidden = false;
      } else if (this.sort === "newest") {
        this.list.insertBefore(item, this.list.firstChild);
        this.loaded += 1;
      } else {
        this.list.appendChild(item);
        this.loaded += 1;
      }
    }
    this.setCount(data.comment_count);
  };

  Widget.prototype.onRemove = function (data) {
    var entry = this.nodes[data.id];
    this.setCount(data.comment_count);
    if (!entry) return;
    if (entry.replies.childElementCount) {
      this.reload(); // its replies move to the top level: let the server lay them out
      return;
    }
    var list = entry.el.parentNode;
    entry.el.remove();
    delete this.nodes[data.id];
    if (list === this.list) this.loaded -= 1;
    else if (list && !list.childElementCount) list.hidden = true;
  };

  Widget.prototype.tickTimes = function () {
    if (this.timeTimer) return;
    var self = this;
    this.timeTimer = setInterval(function () {
      Array.prototype.forEach.call(self.list.querySelectorAll("time"), function (time) {
        time.textContent = relativeTime(time.dateTime, self.lang, self.strings);
      });
    }, 60000);
  };

  Widget.prototype.destroy = function () {
    this.stopLive();
    if (this.observer) this.observer.disconnect();
    if (this.timeTimer) clearInterval(this.timeTimer);
    this.timeTimer = null;
  };

  // ------------------------------------------------------------------ counts on index pages

  function fillCounts() {
    var spans = Array.prototype.slice.call(document.querySelectorAll(".matinee-count[data-url]"));
    if (!spans.length) return;
    var byUrl = {};
    spans.forEach(function (span) {
      var url = new URL(span.dataset.url, document.baseURI).href;
      (byUrl[url] = byUrl[url] || []).push(span);
    });
    var urls = Object.keys(byUrl);
    var lang = (document.documentElement.lang || "en").split("-")[0].toLowerCase();
    var strings = localeTable(lang);
    for (var start = 0; start < urls.length; start += 100) {
      var batch = urls.slice(start, start + 100);
      var params = new URLSearchParams();
      batch.forEach(function (url) { params.append("url", url); });
      getJSON("v1/counts?" + params.toString()).then(function (result) {
        Object.keys(result.body.counts).forEach(function (url) {
          var entry = result.body.counts[url];
          (byUrl[url] || []).forEach(function (span) {
            var text = plural(strings, "comments", entry ? entry.comment_count : 0, lang);
            if (entry && entry.rating && entry.rating.votes) {
              text += " · ★ " + Number(entry.rating.average).toLocaleString(lang, { maximumFractionDigits: 1 });
            }
            span.textContent = text;
          });
        });
      }).catch(function (error) { log("could not load comment counts", error); });
    }
  }

  // ------------------------------------------------------------------ start

  var instances = [];

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".matinee-comments"), function (host) {
      if (host.__matinee) return;
      try {
        host.__matinee = new Widget(host);
        instances.push(host.__matinee);
      } catch (error) {
        log("could not start the widget", error);
      }
    });
    fillCounts();
  }

  window.Matinee = {
    version: 1,
    instances: instances,
    refresh: function () { instances.forEach(function (w) { w.reload(); }); },
    destroy: function () { instances.forEach(function (w) { w.destroy(); }); }
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
