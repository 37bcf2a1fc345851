/*
 * The sandbox's Discord-like client: channels and threads, messages with embeds, polls, buttons,
 * attachments and reactions, a composer with slash commands and live autocomplete, and the
 * sample blog beside it. It talks to bot/sandbox/ui.py: JSON requests to act as a member,
 * Server-Sent Events for every change.
 *
 * Everything members, the bot, feeds or models wrote is untrusted, so it only ever reaches the
 * page as text nodes or through MatineeMarkdown (which builds DOM nodes itself): no innerHTML.
 */
(function () {
  "use strict";

  const MD = window.MatineeMarkdown;
  const THREAD_TYPES = new Set([10, 11, 12]);
  const TEXT_TYPES = new Set([0, 5]);
  const FLAG_EPHEMERAL = 1 << 6;
  const FLAG_LOADING = 1 << 7;
  const MANAGE_MESSAGES = 1n << 13n;
  const ADMINISTRATOR = 1n << 3n;
  const GROUP_MS = 7 * 60 * 1000;
  const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "🍿", "🎬", "⭐", "🍍"];
  const OPTION = { SUB: 1, GROUP: 2, STRING: 3, INTEGER: 4, BOOLEAN: 5, USER: 6, CHANNEL: 7, ROLE: 8, MENTIONABLE: 9, NUMBER: 10, ATTACHMENT: 11 };

  const S = {
    state: null,
    person: null,
    channelId: null,
    messages: new Map(), // id -> message, for the open channel
    unread: new Set(),
    replyTo: null,
    editing: null,
    dismissed: new Set(),
    command: null, // { entry, values: { name: {value, label} } }
    pickerIndex: 0,
    view: "chat",
    blogSrc: null,
    connectedOnce: false,
  };

  // ------------------------------------------------------------------ small helpers

  function $(id) { return document.getElementById(id); }

  /** Build an element: props are safe DOM properties; children are nodes or strings (as text). */
  function h(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") e.className = value;
      else if (key === "text") e.textContent = value;
      else if (key === "dataset") Object.assign(e.dataset, value);
      else if (key.startsWith("on")) e.addEventListener(key.slice(2), value);
      else if (key === "aria") for (const [a, v] of Object.entries(value)) e.setAttribute("aria-" + a, v);
      else e[key] = value;
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      e.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return e;
  }

  async function api(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try { data = await response.json(); } catch (_) { /* empty */ }
    if (!response.ok) throw new Error((data && data.error) || `Request failed (${response.status})`);
    return data;
  }

  function cmpId(a, b) {
    const x = BigInt(a), y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function idTime(id) { return new Date(Number((BigInt(id) >> 22n) + 1420070400000n)); }

  /** A colour per person that neighbours' ids (which differ in their last digits) don't share. */
  function hue(id) {
    let hash = 2166136261;
    for (const ch of String(id)) hash = Math.imul(hash ^ ch.charCodeAt(0), 16777619);
    return (hash >>> 0) % 360;
  }

  function showError(text) {
    const box = $("composer-error");
    box.textContent = text || "";
    if (text) setTimeout(() => { if (box.textContent === text) box.textContent = ""; }, 6000);
  }

  function clockTime(date) { return new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" }).format(date); }

  function when(iso) {
    const date = new Date(iso);
    const today = new Date();
    const yesterday = new Date(Date.now() - 86400000);
    if (date.toDateString() === today.toDateString()) return `Today at ${clockTime(date)}`;
    if (date.toDateString() === yesterday.toDateString()) return `Yesterday at ${clockTime(date)}`;
    return `${date.toLocaleDateString()} ${clockTime(date)}`;
  }

  // ------------------------------------------------------------------ the world

  function member(id) { return S.state.members.find((m) => m.id === String(id)); }
  function channel(id) { return S.state.channels.find((c) => c.id === String(id)); }
  function me() { return S.state.people.find((p) => p.id === S.person); }
  function isBot(id) { return String(id) === S.state.bot.id; }

  function displayName(user) {
    if (!user) return "Unknown";
    const known = member(user.id);
    if (known) return known.name;
    return user.global_name || user.username || "Unknown";
  }

  function permissions(person) { return BigInt(person ? person.permissions : 0); }

  function canUse(entry, person) {
    const needed = BigInt(entry.default_member_permissions || 0);
    const has = permissions(person);
    return !needed || (has & ADMINISTRATOR) !== 0n || (has & needed) === needed;
  }

  const mdContext = {
    userName: (id) => { const m = member(id); return m ? m.name : "unknown-user"; },
    roleName: (id) => { const r = (S.state.roles || []).find((x) => x.id === id); return r ? r.name : "unknown-role"; },
    channelName: (id) => { const c = channel(id); return c ? c.name : "unknown"; },
    openChannel: (id) => { if (channel(id)) openChannel(id); },
    inApp: (url) => {
      const id = internalChannel(url);
      return id ? () => openChannel(id) : null;
    },
  };

  /** The channel a discord.com/channels/<this server>/<channel> link points at, if it is one of ours. */
  function internalChannel(url) {
    const m = /^https:\/\/(?:ptb\.|canary\.)?discord(?:app)?\.com\/channels\/(\d+)\/(\d+)/.exec(url || "");
    return m && m[1] === S.state.guild.id && channel(m[2]) ? m[2] : null;
  }

  function markdown(text, options) {
    const box = h("div", { class: "markdown" });
    box.append(MD.render(text, mdContext, options));
    return box;
  }

  function avatar(user, size) {
    const name = displayName(user);
    const a = h("div", { class: "avatar" + (size ? " " + size : ""), text: name.slice(0, 1).toUpperCase(), aria: { hidden: "true" } });
    a.style.background = user && isBot(user.id) ? "#c41e3a" : `hsl(${hue(user ? user.id : 0)} 45% 45%)`;
    return a;
  }

  function imageAllowed(url) {
    try {
      const u = new URL(url, location.href);
      return u.origin === location.origin || u.origin === S.state.cdn;
    } catch (_) { return false; }
  }

  // ------------------------------------------------------------------ start-up

  async function boot() {
    S.state = await api("GET", "/api/state");
    S.blogStatusAt = Date.now();
    const saved = sessionStorage.getItem("matinee.person");
    S.person = S.state.people.some((p) => p.id === saved) ? saved : S.state.people[0].id; // you, the owner
    renderPeople();
    renderChannels();
    renderMembers();
    renderBlogStatus();
    setInterval(renderBlogStatus, 1000);
    bindComposer();
    bindTabs();
    connectEvents();
    const wanted = sessionStorage.getItem("matinee.channel");
    await openChannel(wanted && channel(wanted) ? wanted : S.state.default_channel_id);
  }

  async function reload() {
    S.state = await api("GET", "/api/state");
    S.blogStatusAt = Date.now();
    renderPeople();
    renderChannels();
    renderMembers();
    renderBlogStatus();
    if (S.channelId && channel(S.channelId)) await openChannel(S.channelId, { keepScroll: true });
  }

  // ------------------------------------------------------------------ the sidebar

  function renderPeople() {
    const select = $("person");
    select.replaceChildren(...S.state.people.map((p) =>
      h("option", { value: p.id, text: p.owner ? `${p.name} (server owner)` : p.name, selected: p.id === S.person })));
    select.onchange = async () => {
      S.person = select.value;
      sessionStorage.setItem("matinee.person", S.person);
      cancelCommand();
      $("me-avatar").replaceWith(Object.assign(avatar({ id: S.person }), { id: "me-avatar" }));
      renderMembers();
      if (S.channelId) await openChannel(S.channelId, { keepScroll: true });
    };
    $("me-avatar").replaceWith(Object.assign(avatar({ id: S.person }), { id: "me-avatar" }));
  }

  function renderChannels() {
    const list = $("channels");
    const parents = S.state.channels.filter((c) => !THREAD_TYPES.has(c.type) && c.type !== 4);
    const items = [h("div", { class: "category", text: "Text channels" })];
    for (const parent of parents) {
      items.push(channelItem(parent, false));
      const threads = S.state.channels.filter((c) => THREAD_TYPES.has(c.type) && c.parent_id === parent.id)
        .sort((a, b) => cmpId(a.id, b.id));
      for (const thread of threads) items.push(channelItem(thread, true));
    }
    list.replaceChildren(...items);
  }

  function channelItem(c, isThread) {
    const classes = ["channel", isThread ? "thread" : "", c.id === S.channelId ? "active" : "", S.unread.has(c.id) ? "unread" : "", c.archived ? "archived" : ""];
    return h("div", {
      class: classes.filter(Boolean).join(" "), role: "treeitem", tabIndex: 0, title: c.name,
      dataset: { channelId: c.id },
      onclick: () => openChannel(c.id),
      onkeydown: (e) => { if (e.key === "Enter") openChannel(c.id); },
    }, h("span", { class: "channel-glyph", text: isThread ? "↳" : "#", aria: { hidden: "true" } }), h("span", { class: "channel-label", text: c.name }));
  }

  function renderMembers() {
    const people = [...S.state.members].sort((a, b) => Number(b.bot) - Number(a.bot) || Number(b.owner) - Number(a.owner) || a.name.localeCompare(b.name));
    $("member-list").replaceChildren(
      h("div", { class: "category", text: `Members — ${people.length}` }),
      ...people.map((p) => h("div", { class: "member" + (p.id === S.person ? " acting" : "") },
        avatar(p, "small"),
        h("span", { class: "member-name", text: p.name }),
        p.bot ? h("span", { class: "tag", text: "APP" }) : null,
        p.owner ? h("span", { class: "crown", text: "👑", title: "Server owner" }) : null)),
    );
  }

  function renderBlogStatus() {
    const blog = S.state && S.state.blog;
    if (!blog) return;
    const box = $("blog-status");
    const parts = [h("div", { class: "blog-title" }, "📰 Sample blog")];
    if (blog.upcoming) {
      const left = Math.max(0, Math.round(blog.upcoming.in_seconds - (Date.now() - S.blogStatusAt) / 1000));
      parts.push(h("div", { class: "blog-line", text: left > 0 ? `A new review goes live in ${left} s` : "Publishing a new review…" }));
    } else {
      parts.push(h("div", { class: "blog-line", text: `${blog.posts.length} reviews published.` }));
    }
    if (blog.feed_read_seconds_ago !== null && blog.feed_read_seconds_ago !== undefined) {
      const ago = Math.round(blog.feed_read_seconds_ago + (Date.now() - S.blogStatusAt) / 1000);
      parts.push(h("div", { class: "blog-line", text: `Matinee read its feed ${ago} s ago (${blog.feed_reads} reads).` }));
    }
    parts.push(h("button", { type: "button", class: "linkish", text: "Open the blog", onclick: () => setView("blog") }));
    box.replaceChildren(...parts);
  }

  // ------------------------------------------------------------------ a channel

  async function openChannel(id, options) {
    id = String(id);
    const c = channel(id);
    if (!c) return;
    const changed = S.channelId !== id;
    S.channelId = id;
    sessionStorage.setItem("matinee.channel", id);
    S.unread.delete(id);
    if (changed) { S.replyTo = null; S.editing = null; renderReplyBar(); }
    renderChannels();
    $("channel-icon").textContent = THREAD_TYPES.has(c.type) ? "🧵" : "#";
    $("channel-name").textContent = c.name;
    $("channel-topic").textContent = c.topic || (THREAD_TYPES.has(c.type) ? `Thread in #${(channel(c.parent_id) || {}).name || ""}` : "");
    $("input").placeholder = `Message ${THREAD_TYPES.has(c.type) ? "" : "#"}${c.name}`;
    const messages = await api("GET", `/api/channels/${id}/messages?as=${S.person}`);
    if (S.channelId !== id) return;
    S.messages = new Map(messages.map((m) => [m.id, m]));
    renderMessages(options && options.keepScroll);
    updateBlogTarget();
  }

  function sortedMessages() {
    return [...S.messages.values()].filter((m) => !S.dismissed.has(m.id) && visibleTo(m)).sort((a, b) => cmpId(a.id, b.id));
  }

  function visibleTo(m) {
    const only = m.sandbox && m.sandbox.only_for;
    return !only || only === S.person;
  }

  function renderMessages(keepScroll) {
    const box = $("messages");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const c = channel(S.channelId);
    const intro = h("div", { class: "channel-intro" },
      h("div", { class: "intro-icon", text: THREAD_TYPES.has(c.type) ? "🧵" : "#" }),
      h("h2", { text: THREAD_TYPES.has(c.type) ? c.name : `Welcome to #${c.name}!` }),
      h("p", { text: THREAD_TYPES.has(c.type) ? "Every reply here is a comment on the review." : (c.topic || `This is the start of the #${c.name} channel.`) }));
    const list = sortedMessages();
    box.replaceChildren(intro, ...list.map((m, i) => messageElement(m, list[i - 1])));
    if (!keepScroll || atBottom) box.scrollTop = box.scrollHeight;
  }

  function grouped(m, prev) {
    if (!prev || m.type === 19 || m.type === 20 || m.type === 23 || prev.author.id !== m.author.id) return false;
    if (Boolean(m.sandbox && m.sandbox.only_for) !== Boolean(prev.sandbox && prev.sandbox.only_for)) return false;
    return new Date(m.timestamp) - new Date(prev.timestamp) < GROUP_MS;
  }

  function upsertMessage(m) {
    if (m.channel_id !== S.channelId) {
      if (!visibleTo(m) || m.author.id === S.person) return;
      if (!S.messages.has(m.id)) { S.unread.add(m.channel_id); renderChannels(); }
      return;
    }
    const existed = S.messages.has(m.id);
    S.messages.set(m.id, m);
    if (!visibleTo(m) || S.dismissed.has(m.id)) return;
    const box = $("messages");
    const current = box.querySelector(`[data-message-id="${m.id}"]`);
    const list = sortedMessages();
    const index = list.findIndex((x) => x.id === m.id);
    if (current && existed) {
      if (S.editing === m.id) return; // keep the edit box; the new text shows when it closes
      current.replaceWith(messageElement(m, list[index - 1]));
      return;
    }
    if (index === list.length - 1) {
      const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
      box.append(messageElement(m, list[index - 1]));
      if (atBottom || m.author.id === S.person || (m.sandbox && m.sandbox.only_for)) box.scrollTop = box.scrollHeight;
    } else {
      renderMessages(true);
    }
  }

  function removeMessage(channelId, id) {
    if (channelId !== S.channelId) return;
    S.messages.delete(id);
    const el = $("messages").querySelector(`[data-message-id="${id}"]`);
    if (el) el.remove();
    if (S.replyTo === id) { S.replyTo = null; renderReplyBar(); }
  }

  // ------------------------------------------------------------------ one message

  function messageElement(m, prev) {
    const ephemeral = (m.flags & FLAG_EPHEMERAL) !== 0;
    const compact = grouped(m, prev);
    const article = h("article", { class: "message" + (compact ? " compact" : "") + (ephemeral ? " ephemeral" : ""), dataset: { messageId: m.id } });
    const body = h("div", { class: "message-body" });
    if (m.type === 19 && m.message_reference) body.append(replyPreview(m));
    if ((m.type === 20 || m.type === 23) && m.interaction_metadata) {
      const user = m.interaction_metadata.user;
      body.append(h("div", { class: "used-command" }, h("span", { class: "who", text: displayName(user) }), " used ",
        h("span", { class: "command-name", text: (m.sandbox && m.sandbox.command) || "a command" })));
    }
    if (!compact) {
      const bot = m.author.bot;
      body.append(h("div", { class: "message-header" },
        h("span", { class: "author" + (bot ? " bot" : ""), text: displayName(m.author) }),
        bot ? h("span", { class: "tag", text: "APP" }) : null,
        h("time", { class: "time", dateTime: m.timestamp, title: new Date(m.timestamp).toLocaleString(), text: when(m.timestamp) })));
    }
    if (m.flags & FLAG_LOADING) {
      body.append(h("div", { class: "thinking" }, h("span", { class: "dots", aria: { hidden: "true" } }), `${displayName(m.author)} is thinking…`));
    } else if (S.editing === m.id) {
      body.append(editBox(m));
    } else if (m.content) {
      const content = markdown(m.content);
      if (m.edited_timestamp) content.append(h("span", { class: "edited", title: new Date(m.edited_timestamp).toLocaleString(), text: " (edited)" }));
      body.append(content);
    }
    for (const a of m.attachments || []) body.append(attachment(a));
    for (const e of m.embeds || []) body.append(embed(e));
    if (m.poll) body.append(poll(m));
    if (m.components && m.components.length) body.append(components(m, m.components));
    if (m.reactions && m.reactions.length) body.append(reactions(m));
    if (m.thread && channel(m.thread.id)) body.append(threadChip(m.thread));
    if (ephemeral) {
      body.append(h("div", { class: "ephemeral-note" }, "👁 Only you can see this · ",
        h("button", { type: "button", class: "linkish", text: "Dismiss message", onclick: () => { S.dismissed.add(m.id); article.remove(); } })));
    }
    const gutter = compact
      ? h("time", { class: "gutter-time", dateTime: m.timestamp, text: clockTime(new Date(m.timestamp)) })
      : avatar(m.author);
    article.append(gutter, body, actions(m, ephemeral));
    return article;
  }

  function replyPreview(m) {
    const ref = m.referenced_message;
    const line = h("div", { class: "reply-preview" });
    if (!ref) { line.append(h("em", { text: "Original message was deleted" })); return line; }
    const snippet = h("span", { class: "snippet" });
    if (ref.content) snippet.append(MD.render(ref.content.split("\n")[0].slice(0, 200), mdContext, { quotes: false }));
    else snippet.textContent = ref.embeds && ref.embeds.length ? "Click to see attachment" : "";
    line.append(avatar(ref.author, "tiny"), h("span", { class: "who", text: displayName(ref.author) }), snippet);
    line.addEventListener("click", () => {
      const target = $("messages").querySelector(`[data-message-id="${ref.id}"]`);
      if (target) { target.scrollIntoView({ block: "center" }); target.classList.add("flash"); setTimeout(() => target.classList.remove("flash"), 1200); }
    });
    return line;
  }

  function attachment(a) {
    const url = MD.safeUrl(a.url);
    if (url && (a.content_type || "").startsWith("image/") && imageAllowed(url)) {
      const img = h("img", { class: "attachment-image", src: url, alt: a.description || a.filename, loading: "lazy" });
      return a.spoiler || (a.filename || "").startsWith("SPOILER_") ? spoilerWrap(img) : img;
    }
    return h("div", { class: "attachment" }, h("span", { class: "file-icon", text: "📄", aria: { hidden: "true" } }),
      h("div", {}, url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: a.filename, download: a.filename }) : h("span", { text: a.filename }),
        h("div", { class: "file-size", text: a.size ? `${(a.size / 1024).toFixed(1)} KB` : "" })));
  }

  function spoilerWrap(node) {
    const wrap = h("div", { class: "media-spoiler", tabIndex: 0, role: "button", aria: { label: "Spoiler, click to reveal" } }, node, h("span", { class: "spoiler-badge", text: "SPOILER" }));
    wrap.addEventListener("click", () => wrap.classList.add("revealed"));
    return wrap;
  }

  function embedImage(url, className) {
    const safe = MD.safeUrl(url);
    if (!safe) return null;
    if (imageAllowed(safe)) return h("img", { class: className, src: safe, alt: "", loading: "lazy" });
    const host = new URL(safe).host;
    return h("a", { class: className + " remote", href: safe, target: "_blank", rel: "noopener noreferrer", title: safe, text: `🖼 Image from ${host} (not loaded in the sandbox)` });
  }

  function embed(e) {
    const box = h("div", { class: "embed" });
    box.style.borderLeftColor = e.color !== undefined && e.color !== null ? "#" + Number(e.color).toString(16).padStart(6, "0") : "#1e1f22";
    const main = h("div", { class: "embed-main" });
    if (e.author && e.author.name) {
      const url = MD.safeUrl(e.author.url || "");
      main.append(h("div", { class: "embed-author" }, url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: e.author.name }) : e.author.name));
    }
    if (e.title) {
      const url = MD.safeUrl(e.url || "");
      main.append(h("div", { class: "embed-title" }, url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: e.title }) : e.title));
    }
    if (e.description) main.append(markdown(e.description, { quotes: true }));
    if (e.fields && e.fields.length) {
      main.append(h("div", { class: "embed-fields" }, e.fields.map((f) =>
        h("div", { class: "embed-field" + (f.inline ? " inline" : "") }, h("div", { class: "field-name" }, markdown(f.name)), markdown(f.value)))));
    }
    if (e.image && e.image.url) main.append(embedImage(e.image.url, "embed-image"));
    const footerBits = [];
    if (e.footer && e.footer.text) footerBits.push(e.footer.text);
    if (e.timestamp) footerBits.push(new Date(e.timestamp).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" }));
    if (footerBits.length) main.append(h("div", { class: "embed-footer", text: footerBits.join(" • ") }));
    box.append(main);
    if (e.thumbnail && e.thumbnail.url) box.append(embedImage(e.thumbnail.url, "embed-thumbnail"));
    return box;
  }

  function poll(m) {
    const p = m.poll;
    const voters = (m.sandbox && m.sandbox.poll_voters) || {};
    const counts = {};
    let total = 0;
    for (const a of p.answers) { counts[a.answer_id] = (voters[a.answer_id] || []).length; total += counts[a.answer_id]; }
    const ended = Boolean(p.results && p.results.is_finalized);
    const box = h("div", { class: "poll" + (ended ? " ended" : "") },
      h("div", { class: "poll-question", text: (p.question && p.question.text) || "" }),
      h("div", { class: "poll-hint", text: ended ? "Poll closed" : p.allow_multiselect ? "Select one or more answers" : "Select one answer" }));
    for (const a of p.answers) {
      const mine = (voters[a.answer_id] || []).includes(S.person);
      const share = total ? Math.round((counts[a.answer_id] / total) * 100) : 0;
      const media = a.poll_media || {};
      const bar = h("span", { class: "poll-bar", aria: { hidden: "true" } });
      bar.style.width = share + "%";
      box.append(h("button", {
        type: "button", class: "poll-answer" + (mine ? " mine" : ""), disabled: ended,
        aria: { pressed: String(mine), label: `${media.text || ""}: ${counts[a.answer_id]} votes${mine ? ", your vote" : ""}` },
        dataset: { answerId: String(a.answer_id) },
        onclick: () => vote(m, a.answer_id, !mine),
      }, bar, h("span", { class: "poll-text" }, media.emoji && media.emoji.name ? media.emoji.name + " " : "", media.text || ""),
      h("span", { class: "poll-count", text: `${counts[a.answer_id]} · ${share}%` })));
    }
    let footer = `${total} vote${total === 1 ? "" : "s"}`;
    if (!ended && p.expiry) {
      const hours = Math.max(0, Math.round((new Date(p.expiry) - Date.now()) / 3600000));
      footer += hours >= 24 ? ` · ${Math.round(hours / 24)}d left` : ` · ${hours}h left`;
    }
    box.append(h("div", { class: "poll-footer", text: footer }));
    return box;
  }

  function components(m, rows) {
    const box = h("div", { class: "components" });
    for (const c of rows) box.append(component(m, c));
    return box;
  }

  function component(m, c) {
    switch (c.type) {
      case 1: return h("div", { class: "action-row" }, (c.components || []).map((x) => component(m, x)));
      case 2: {
        const label = [c.emoji && c.emoji.name ? c.emoji.name : "", c.label || ""].filter(Boolean).join(" ");
        if (c.style === 5 && c.url) {
          const url = MD.safeUrl(c.url);
          if (!url) return h("span", { class: "button style-5 disabled", text: label });
          const inApp = internalChannel(url);
          if (inApp) return h("a", { class: "button style-5", href: url, text: label, onclick: (e) => { e.preventDefault(); openChannel(inApp); } });
          return h("a", { class: "button style-5", href: url, target: "_blank", rel: "noopener noreferrer", text: label + " ↗" });
        }
        return h("button", { type: "button", class: `button style-${c.style || 2}`, disabled: Boolean(c.disabled), text: label,
          onclick: (event) => clickComponent(m, c.custom_id, undefined, event.currentTarget) });
      }
      case 3: case 5: case 6: case 7: case 8: return select(m, c);
      case 10: return markdown(c.content || "");
      case 9: return h("div", { class: "section" }, h("div", {}, (c.components || []).map((x) => component(m, x))), c.accessory ? component(m, c.accessory) : null);
      case 14: return h("hr", { class: "separator" });
      case 17: {
        const box = h("div", { class: "container" }, (c.components || []).map((x) => component(m, x)));
        if (c.accent_color !== undefined && c.accent_color !== null) box.style.borderLeftColor = "#" + Number(c.accent_color).toString(16).padStart(6, "0");
        return box;
      }
      default: return h("div", { class: "unsupported", text: "(a component the sandbox does not draw)" });
    }
  }

  function select(m, c) {
    let options = c.options || [];
    if (c.type === 5) options = S.state.members.map((x) => ({ label: x.name, value: x.id }));
    if (c.type === 6) options = (S.state.roles || []).map((x) => ({ label: x.name, value: x.id }));
    if (c.type === 8) options = S.state.channels.map((x) => ({ label: "#" + x.name, value: x.id }));
    const el = h("select", { class: "select-menu", disabled: Boolean(c.disabled), multiple: (c.max_values || 1) > 1, aria: { label: c.placeholder || "Choose" } },
      (c.max_values || 1) > 1 ? null : h("option", { value: "", text: c.placeholder || "Make a selection" }),
      options.map((o) => h("option", { value: o.value, text: (o.emoji && o.emoji.name ? o.emoji.name + " " : "") + o.label, selected: Boolean(o.default) })));
    el.addEventListener("change", () => {
      const values = [...el.selectedOptions].map((o) => o.value).filter(Boolean);
      if (values.length >= (c.min_values ?? 1)) clickComponent(m, c.custom_id, values, el);
    });
    return el;
  }

  function reactions(m) {
    const users = (m.sandbox && m.sandbox.reaction_users) || {};
    return h("div", { class: "reactions" }, m.reactions.map((r) => {
      const key = r.key || r.emoji.name;
      const mine = (users[key] || []).includes(S.person);
      return h("button", { type: "button", class: "reaction" + (mine ? " mine" : ""), aria: { pressed: String(mine) },
        title: (users[key] || []).map((id) => mdContext.userName(id)).join(", "),
        onclick: () => react(m, key, !mine) }, r.emoji.id ? `:${r.emoji.name}:` : r.emoji.name, h("span", { class: "count", text: String(r.count) }));
    }));
  }

  function threadChip(thread) {
    const c = channel(thread.id);
    const count = c && c.message_count !== null && c.message_count !== undefined ? c.message_count : thread.message_count;
    return h("button", { type: "button", class: "thread-chip", onclick: () => openChannel(thread.id) },
      h("span", { class: "thread-name", text: (c && c.name) || thread.name }),
      h("span", { class: "thread-count", text: `${count || 0} message${count === 1 ? "" : "s"} ›` }));
  }

  function actions(m, ephemeral) {
    const bar = h("div", { class: "message-actions" });
    if (ephemeral) return bar;
    const person = me();
    const own = m.author.id === S.person;
    const staff = (permissions(person) & (MANAGE_MESSAGES | ADMINISTRATOR)) !== 0n;
    bar.append(h("button", { type: "button", title: "Add reaction", aria: { label: "Add reaction" }, text: "😀", onclick: (e) => reactionPalette(m, e.currentTarget) }));
    bar.append(h("button", { type: "button", title: "Reply", aria: { label: "Reply" }, text: "↩", onclick: () => startReply(m) }));
    if (own && !(m.flags & FLAG_LOADING)) bar.append(h("button", { type: "button", title: "Edit", aria: { label: "Edit" }, text: "✎", onclick: () => startEdit(m.id) }));
    if (own || staff) bar.append(h("button", { type: "button", title: "Delete", aria: { label: "Delete" }, class: "danger", text: "🗑", onclick: () => deleteMessage(m) }));
    const apps = S.state.commands.filter((c) => c.type === 3 && canUse(c, person));
    if (apps.length) bar.append(h("button", { type: "button", title: "Apps", aria: { label: "Apps" }, text: "⋯", onclick: (e) => appsMenu(m, apps, e.currentTarget) }));
    return bar;
  }

  function popup(anchor, items) {
    closePopup();
    const menu = h("div", { class: "popup", role: "menu" }, items);
    document.body.append(menu);
    const rect = anchor.getBoundingClientRect();
    menu.style.top = Math.min(window.innerHeight - menu.offsetHeight - 8, rect.bottom + 4) + "px";
    menu.style.left = Math.max(8, rect.right - menu.offsetWidth) + "px";
    setTimeout(() => document.addEventListener("click", closePopup, { once: true }), 0);
  }

  function closePopup() { document.querySelectorAll(".popup").forEach((p) => p.remove()); }

  function reactionPalette(m, anchor) {
    popup(anchor, QUICK_REACTIONS.map((emoji) => h("button", { type: "button", class: "palette-emoji", text: emoji, onclick: () => react(m, emoji, true) })));
  }

  function appsMenu(m, apps, anchor) {
    popup(anchor, [h("div", { class: "popup-title", text: "Apps" }), ...apps.map((entry) =>
      h("button", { type: "button", role: "menuitem", class: "menu-item", text: entry.name, onclick: () => runApp(m, entry) }))]);
  }

  // ------------------------------------------------------------------ acting

  async function attempt(action) {
    try { return await action(); } catch (error) { showError(error.message); return null; }
  }

  function react(m, emoji, add) {
    return attempt(() => api("POST", `/api/channels/${m.channel_id}/messages/${m.id}/reactions`, { as: S.person, emoji, add }));
  }

  function vote(m, answerId, add) {
    return attempt(() => api("POST", `/api/channels/${m.channel_id}/messages/${m.id}/votes`, { as: S.person, answer_id: answerId, add }));
  }

  async function clickComponent(m, customId, values, control) {
    if (control) control.disabled = true;
    const result = await attempt(() => api("POST", "/api/components", { as: S.person, channel_id: m.channel_id, message_id: m.id, custom_id: customId, values }));
    if (control && control.isConnected) control.disabled = false;
    handleAnswer(result);
  }

  async function runApp(m, entry) {
    const result = await attempt(() => api("POST", "/api/apps", { as: S.person, channel_id: m.channel_id, name: entry.name, message_id: m.id }));
    handleAnswer(result);
  }

  function handleAnswer(result) {
    if (!result) return;
    if (!result.answered) showError(result.error || "The application did not respond.");
    else if (result.modal) openModal(result.interaction_id, result.modal);
  }

  function startReply(m) {
    S.replyTo = m.id;
    renderReplyBar();
    $("input").focus();
  }

  function renderReplyBar() {
    const bar = $("reply-bar");
    const m = S.replyTo && S.messages.get(S.replyTo);
    bar.hidden = !m;
    $("reply-text").textContent = m ? `Replying to ${displayName(m.author)}` : "";
  }

  function startEdit(id) {
    S.editing = id;
    renderMessages(true);
    const box = $("messages").querySelector(`[data-message-id="${id}"] textarea`);
    if (box) { box.focus(); box.setSelectionRange(box.value.length, box.value.length); }
  }

  function editBox(m) {
    const area = h("textarea", { class: "edit-input", value: m.content, rows: Math.min(8, m.content.split("\n").length + 1), aria: { label: "Edit message" } });
    const finish = () => { S.editing = null; renderMessages(true); };
    const save = async () => {
      const content = area.value.trim();
      if (!content) { deleteMessage(m); return; }
      if (content !== m.content) {
        const ok = await attempt(() => api("PATCH", `/api/channels/${m.channel_id}/messages/${m.id}`, { as: S.person, content }));
        if (ok === null) return;
      }
      finish();
    };
    area.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); finish(); }
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); save(); }
    });
    return h("div", { class: "edit-box" }, area, h("div", { class: "edit-hint" }, "escape to ",
      h("button", { type: "button", class: "linkish", text: "cancel", onclick: finish }), " • enter to ",
      h("button", { type: "button", class: "linkish", text: "save", onclick: save })));
  }

  async function deleteMessage(m) {
    if (!window.confirm("Delete this message?")) return;
    await attempt(() => api("DELETE", `/api/channels/${m.channel_id}/messages/${m.id}`, { as: S.person }));
  }

  // ------------------------------------------------------------------ the composer

  function bindComposer() {
    const input = $("input");
    const autosize = () => { input.style.height = "auto"; input.style.height = Math.min(200, input.scrollHeight) + "px"; };
    input.addEventListener("input", () => { autosize(); updatePicker(); });
    input.addEventListener("keydown", (e) => {
      const picker = $("picker");
      if (!picker.hidden) {
        const items = [...picker.querySelectorAll(".pick")];
        if (e.key === "ArrowDown" || e.key === "ArrowUp") {
          e.preventDefault();
          S.pickerIndex = (S.pickerIndex + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
          items.forEach((it, i) => it.setAttribute("aria-selected", String(i === S.pickerIndex)));
          return;
        }
        if ((e.key === "Enter" || e.key === "Tab") && items.length) {
          e.preventDefault();
          items[S.pickerIndex].click();
          return;
        }
        if (e.key === "Escape") { picker.hidden = true; return; }
      }
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendMessage(); }
      if (e.key === "ArrowUp" && !input.value) {
        const mine = sortedMessages().filter((m) => m.author.id === S.person && !(m.flags & FLAG_EPHEMERAL));
        if (mine.length) { e.preventDefault(); startEdit(mine[mine.length - 1].id); }
      }
      if (e.key === "Escape" && S.replyTo) { S.replyTo = null; renderReplyBar(); }
    });
    $("composer").addEventListener("submit", (e) => { e.preventDefault(); sendMessage(); });
    $("reply-cancel").addEventListener("click", () => { S.replyTo = null; renderReplyBar(); });
  }

  /** "@Rosa" becomes <@id>, as Discord's client does when you pick a name while typing. */
  function withMentions(text) {
    const names = S.state.members.map((m) => [m.name, m.id]).concat(S.state.members.map((m) => [m.username, m.id]));
    names.sort((a, b) => b[0].length - a[0].length);
    return text.replace(/(^|[\s(])@([\w.-]{1,32})/g, (whole, lead, name) => {
      const hit = names.find(([n]) => n.toLowerCase() === name.toLowerCase());
      return hit ? `${lead}<@${hit[1]}>` : whole;
    });
  }

  async function sendMessage() {
    const input = $("input");
    const text = input.value.trim();
    if (!text) return;
    if (text.startsWith("/")) {
      const entry = allowedCommands().find((c) => c.name === text.slice(1).trim());
      if (entry) { chooseCommand(entry); return; }
      showError(`Pick a command from the list: /${text.slice(1).split(/\s/)[0]} is not one of Matinee's.`);
      return;
    }
    const body = { as: S.person, content: withMentions(text) };
    if (S.replyTo) body.reply_to = S.replyTo;
    const ok = await attempt(() => api("POST", `/api/channels/${S.channelId}/messages`, body));
    if (ok) {
      input.value = "";
      input.style.height = "auto";
      S.replyTo = null;
      renderReplyBar();
    }
  }

  function allowedCommands() {
    const person = me();
    return S.state.commands.filter((c) => c.type === 1 && canUse(c, person));
  }

  function updatePicker() {
    const input = $("input");
    const picker = $("picker");
    const value = input.value;
    if (!value.startsWith("/") || value.includes("\n")) { picker.hidden = true; return; }
    const query = value.slice(1).toLowerCase();
    const entries = allowedCommands().filter((c) => c.name.startsWith(query) || (query && c.name.includes(query))).slice(0, 25);
    S.pickerIndex = 0;
    picker.replaceChildren(h("div", { class: "picker-title", text: "Matinee's commands" }),
      ...entries.map((entry, i) => h("div", {
        class: "pick", role: "option", aria: { selected: String(i === 0) }, dataset: { command: entry.name },
        onmousedown: (e) => e.preventDefault(), onclick: () => chooseCommand(entry),
      }, h("span", { class: "pick-name", text: "/" + entry.name }), h("span", { class: "pick-description", text: entry.description }))));
    if (!entries.length) picker.append(h("div", { class: "picker-empty", text: "No command matches." }));
    picker.hidden = false;
  }

  // ------------------------------------------------------------------ slash commands

  function chooseCommand(entry) {
    $("picker").hidden = true;
    $("input").value = "";
    S.command = { entry, values: {} };
    const form = $("command-form");
    const fields = entry.options.map((option) => optionField(entry, option));
    form.replaceChildren(
      h("div", { class: "command-head" }, h("span", { class: "command-name", text: "/" + entry.name }),
        h("span", { class: "command-description", text: entry.description }),
        h("button", { type: "button", class: "linkish", text: "Cancel", onclick: cancelCommand })),
      h("div", { class: "command-options" }, fields),
      h("div", { class: "command-actions" }, h("button", { type: "submit", class: "button style-1", text: "Send" })),
    );
    form.onsubmit = (e) => { e.preventDefault(); sendCommand(); };
    form.hidden = false;
    $("composer").hidden = true;
    const first = form.querySelector("input, select");
    if (first) first.focus();
  }

  function cancelCommand() {
    S.command = null;
    $("command-form").hidden = true;
    $("command-form").replaceChildren();
    $("composer").hidden = false;
  }

  function optionField(entry, option) {
    const label = h("label", { class: "option" + (option.required ? " required" : "") },
      h("span", { class: "option-name", text: option.name + (option.required ? "" : " (optional)") }),
      h("span", { class: "option-description", text: option.description || "" }));
    const set = (value, text) => {
      if (value === "" || value === null || value === undefined) delete S.command.values[option.name];
      else S.command.values[option.name] = { value, label: text === undefined ? String(value) : text };
    };
    let control;
    if (option.choices && option.choices.length) {
      control = h("select", { name: option.name }, h("option", { value: "", text: "Choose…" }),
        option.choices.map((c, i) => h("option", { value: String(i), text: c.name })));
      control.addEventListener("change", () => {
        const choice = option.choices[Number(control.value)];
        set(control.value === "" ? "" : choice.value, choice ? choice.name : "");
      });
    } else if (option.type === OPTION.BOOLEAN) {
      control = h("select", { name: option.name }, h("option", { value: "", text: "Choose…" }), h("option", { value: "true", text: "True" }), h("option", { value: "false", text: "False" }));
      control.addEventListener("change", () => set(control.value === "" ? "" : control.value === "true"));
    } else if (option.type === OPTION.CHANNEL) {
      const wanted = option.channel_types;
      const channels = S.state.channels.filter((c) => !wanted || wanted.includes(c.type));
      control = h("select", { name: option.name }, h("option", { value: "", text: "Choose a channel…" }),
        channels.map((c) => h("option", { value: c.id, text: (THREAD_TYPES.has(c.type) ? "🧵 " : "#") + c.name })));
      control.addEventListener("change", () => set(control.value));
    } else if (option.type === OPTION.USER || option.type === OPTION.MENTIONABLE) {
      control = h("select", { name: option.name }, h("option", { value: "", text: "Choose a member…" }),
        S.state.members.map((m) => h("option", { value: m.id, text: m.name })));
      control.addEventListener("change", () => set(control.value));
    } else if (option.type === OPTION.ROLE) {
      control = h("select", { name: option.name }, h("option", { value: "", text: "Choose a role…" }),
        (S.state.roles || []).map((r) => h("option", { value: r.id, text: "@" + r.name })));
      control.addEventListener("change", () => set(control.value));
    } else if (option.type === OPTION.ATTACHMENT) {
      control = h("input", { type: "text", name: option.name, disabled: true, placeholder: "Files can't be uploaded in the sandbox" });
    } else {
      const numeric = option.type === OPTION.INTEGER || option.type === OPTION.NUMBER;
      control = h("input", { type: numeric ? "number" : "text", name: option.name, autocomplete: "off",
        step: option.type === OPTION.INTEGER ? "1" : "any", min: option.min_value, max: option.max_value,
        maxLength: option.max_length, placeholder: option.autocomplete ? "Start typing…" : "" });
      if (option.autocomplete) return autocompleteField(entry, option, label, control, set);
      control.addEventListener("input", () => set(control.value.trim()));
    }
    label.append(control);
    return label;
  }

  function autocompleteField(entry, option, label, control, set) {
    const list = h("div", { class: "choices", role: "listbox", hidden: true });
    let timer = null;
    let sequence = 0;
    const load = async () => {
      // A timer set by typing or focus may fire after the command was sent or cancelled.
      if (!S.command || S.command.entry !== entry || !control.isConnected) return;
      const mine = ++sequence;
      const options = {};
      for (const [name, v] of Object.entries(S.command.values)) options[name] = v.value;
      options[option.name] = control.value;
      let result;
      try {
        result = await api("POST", "/api/autocomplete", { as: S.person, channel_id: S.channelId, name: entry.name, options, focused: option.name });
      } catch (error) {
        result = { choices: [], error: error.message };
      }
      if (mine !== sequence || !control.isConnected) return;
      list.replaceChildren(...(result.choices || []).map((c) => h("div", {
        class: "choice", role: "option", text: c.name, dataset: { value: String(c.value) },
        onmousedown: (e) => e.preventDefault(),
        onclick: () => { control.value = c.name; set(c.value, c.name); list.hidden = true; control.dataset.chosen = "1"; },
      })));
      if (!(result.choices || []).length) list.append(h("div", { class: "choice empty", text: result.error || "No matches" }));
      list.hidden = false;
    };
    control.addEventListener("input", () => {
      delete control.dataset.chosen;
      set(control.value.trim()); // typed text is sent as is unless a choice is picked, as in Discord
      clearTimeout(timer);
      timer = setTimeout(load, 150);
    });
    control.addEventListener("focus", () => { clearTimeout(timer); timer = setTimeout(load, 0); });
    control.addEventListener("blur", () => setTimeout(() => { list.hidden = true; }, 150));
    control.addEventListener("keydown", (e) => {
      const items = [...list.querySelectorAll(".choice:not(.empty)")];
      if (list.hidden || !items.length) return;
      const at = items.findIndex((x) => x.getAttribute("aria-selected") === "true");
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const next = (at + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
        items.forEach((x, i) => x.setAttribute("aria-selected", String(i === next)));
      } else if (e.key === "Enter" && at >= 0) {
        e.preventDefault();
        items[at].click();
      }
    });
    label.append(h("div", { class: "autocomplete" }, control, list));
    return label;
  }

  async function sendCommand() {
    const command = S.command;
    if (!command) return;
    const missing = command.entry.options.filter((o) => o.required && !(o.name in command.values));
    if (missing.length) { showError(`Fill in ${missing.map((o) => o.name).join(", ")}.`); return; }
    const options = {};
    for (const [name, v] of Object.entries(command.values)) options[name] = v.value;
    const button = $("command-form").querySelector("button[type=submit]");
    button.disabled = true;
    const result = await attempt(() => api("POST", "/api/commands", { as: S.person, channel_id: S.channelId, name: command.entry.name, options }));
    button.disabled = false;
    if (!result) return;
    cancelCommand();
    $("input").focus();
    handleAnswer(result);
  }

  // ------------------------------------------------------------------ modals

  function modalInputs(modal) {
    const inputs = [];
    for (const top of modal.components || []) {
      if (top.type === 1) for (const c of top.components || []) inputs.push({ label: c.label, component: c });
      else if (top.type === 18 && top.component) inputs.push({ label: top.label, description: top.description, component: top.component });
      else if (top.type === 10) inputs.push({ text: top.content });
    }
    return inputs;
  }

  function openModal(interactionId, modal) {
    const overlay = $("overlay");
    const fields = [];
    const form = h("form", { class: "modal", role: "dialog", aria: { modal: "true", label: modal.title || "Form" } },
      h("h2", { text: modal.title || "" }));
    for (const item of modalInputs(modal)) {
      if (item.text !== undefined) { form.append(markdown(item.text)); continue; }
      const c = item.component;
      let control;
      if (c.type === 4) {
        const props = { name: c.custom_id, required: c.required !== false, minLength: c.min_length, maxLength: c.max_length, placeholder: c.placeholder || "", value: c.value || "" };
        control = c.style === 2 ? h("textarea", { ...props, rows: 5 }) : h("input", { ...props, type: "text" });
      } else if (c.type === 3) {
        control = h("select", { name: c.custom_id }, (c.options || []).map((o) => h("option", { value: o.value, text: o.label, selected: Boolean(o.default) })));
      } else {
        control = h("input", { type: "text", disabled: true, placeholder: "(not supported in the sandbox)" });
      }
      fields.push([c, control]);
      form.append(h("label", { class: "modal-field" }, h("span", { class: "option-name", text: (item.label || c.label || c.custom_id) + (c.required !== false && c.type === 4 ? " *" : "") }),
        item.description ? h("span", { class: "option-description", text: item.description }) : null, control));
    }
    const close = () => { overlay.hidden = true; overlay.replaceChildren(); };
    form.append(h("div", { class: "modal-actions" },
      h("button", { type: "button", class: "button style-2", text: "Cancel", onclick: close }),
      h("button", { type: "submit", class: "button style-1", text: "Submit" })));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const values = {};
      for (const [c, control] of fields) if (c.custom_id) values[c.custom_id] = c.type === 3 ? [control.value] : control.value;
      const result = await attempt(() => api("POST", "/api/modals", { as: S.person, interaction_id: interactionId, values }));
      if (result) { close(); handleAnswer(result); }
    });
    form.addEventListener("keydown", (e) => { if (e.key === "Escape") close(); });
    overlay.replaceChildren(form);
    overlay.hidden = false;
    const first = form.querySelector("input, textarea, select");
    if (first) first.focus();
  }

  // ------------------------------------------------------------------ the blog beside the chat

  function bindTabs() {
    $("tab-chat").addEventListener("click", () => setView("chat"));
    $("tab-blog").addEventListener("click", () => setView("blog"));
    $("tab-both").addEventListener("click", () => setView("both"));
  }

  function setView(view) {
    const box = $("messages");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    S.view = view;
    $("app").className = "view-" + view;
    if (atBottom) requestAnimationFrame(() => { box.scrollTop = box.scrollHeight; }); // the column's width changed
    for (const name of ["chat", "blog", "both"]) $("tab-" + name).setAttribute("aria-selected", String(name === view));
    updateBlogTarget();
  }

  /** The comments of the open review thread's blog page (its announcement's link), else the blog's front page. */
  function blogTarget() {
    const c = channel(S.channelId);
    if (c && c.link && c.link.startsWith(location.origin + "/blog/")) return c.link + "#comments";
    return S.state.blog.url;
  }

  function updateBlogTarget() {
    const target = blogTarget();
    $("blog-address").textContent = target;
    $("blog-open").href = target;
    if (S.view === "chat") return;
    if (S.blogSrc !== target) { // a new page only when the review changes: the widget stays live otherwise
      S.blogSrc = target;
      $("blog-frame").src = target;
    }
  }

  // ------------------------------------------------------------------ live updates

  function connectEvents() {
    const source = new EventSource("/api/events");
    const banner = $("connection");
    source.addEventListener("hello", () => {
      banner.hidden = true;
      if (S.connectedOnce) reload();
      S.connectedOnce = true;
    });
    source.addEventListener("error", () => { banner.hidden = false; });
    const on = (name, handler) => source.addEventListener(name, (event) => {
      try { handler(JSON.parse(event.data)); } catch (error) { console.error(name, error); }
    });
    on("message", upsertMessage);
    on("message_delete", (d) => removeMessage(d.channel_id, d.id));
    on("channel", (c) => {
      const index = S.state.channels.findIndex((x) => x.id === c.id);
      if (index >= 0) S.state.channels[index] = c; else S.state.channels.push(c);
      renderChannels();
      if (c.id === S.channelId) { $("channel-name").textContent = c.name; updateBlogTarget(); }
      for (const m of S.messages.values()) if (m.thread && m.thread.id === c.id) upsertMessage(m);
    });
    on("channel_delete", (d) => {
      S.state.channels = S.state.channels.filter((c) => c.id !== d.id);
      renderChannels();
      if (d.id === S.channelId) openChannel(S.state.default_channel_id);
    });
    on("member", (p) => {
      const index = S.state.members.findIndex((x) => x.id === p.id);
      if (index >= 0) S.state.members[index] = p; else S.state.members.push(p);
      renderMembers();
    });
    on("blog", (status) => { S.state.blog = status; S.blogStatusAt = Date.now(); renderBlogStatus(); });
    on("commands", (commands) => { S.state.commands = commands; });
  }

  S.blogStatusAt = Date.now();
  boot().catch((error) => {
    document.body.replaceChildren(h("p", { class: "fatal", text: `The sandbox page could not start: ${error.message}` }));
  });
})();
