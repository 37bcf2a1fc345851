/*
 * Discord's Markdown, rendered as DOM nodes (never as an HTML string).
 *
 * Why this exists: messages and embeds in the sandbox must look as they would in Discord, and
 * everything in them is untrusted (members type it, feeds and models write it). The parser
 * below follows Discord's documented subset: bold, italic, underline, strikethrough, inline
 * code and code blocks, spoilers, masked and bare links, block quotes (> and >>>), headings
 * (#, ##, ###), subtext (-#), lists, and the <@user>, <#channel>, <@&role>, <t:unix:style>
 * and </command:id> tokens. The result is built with createElement and text nodes, so no
 * content can become markup; links are http(s) only and open in a new tab without a referrer.
 *
 * Simplified compared with Discord: custom emoji show as :name: (no CDN), nested lists are flat,
 * and code blocks have no syntax highlighting.
 */
(function () {
  "use strict";

  // --- parsing: rules matched at the current position, like simple-markdown (Discord's own parser) ---

  const INLINE = [
    { type: "escape", re: /^\\([^0-9A-Za-z\s])/ },
    { type: "autolink", re: /^<(https?:\/\/[^\s>]+)>/ },
    { type: "userMention", re: /^<@!?(\d+)>/ },
    { type: "roleMention", re: /^<@&(\d+)>/ },
    { type: "channelMention", re: /^<#(\d+)>/ },
    { type: "timestamp", re: /^<t:(-?\d{1,13})(?::([tTdDfFR]))?>/ },
    { type: "emoji", re: /^<a?:(\w{2,32}):(\d+)>/ },
    { type: "command", re: /^<\/([\w-]+(?: [\w-]+){0,2}):(\d+)>/ },
    { type: "link", re: /^\[((?:\[[^\]\n]*\]|[^\[\]\n])+)\]\(\s*<?(https?:\/\/[^\s)<>]+)>?\s*\)/ },
    { type: "url", re: /^https?:\/\/[^\s<]+[^<.,:;"')\]\s]/ },
    { type: "inlineCode", re: /^(`+)([\s\S]*?[^`])\1(?!`)/ },
    { type: "spoiler", re: /^\|\|([\s\S]+?)\|\|/ },
    { type: "strongEm", re: /^\*\*\*(?=\S)([\s\S]+?\S)\*\*\*(?!\*)/ },
    { type: "strong", re: /^\*\*(?=\S)([\s\S]+?\S)\*\*(?!\*)/ },
    { type: "underline", re: /^__([\s\S]+?)__(?!_)/ },
    { type: "em", re: /^\*(?=\S)((?:\*\*|[\s\S])+?)\*(?!\*)/ },
    { type: "em", re: /^_((?:__|\\[\s\S]|[^\\_])+?)_\b/ },
    { type: "strike", re: /^~~([\s\S]+?)~~/ },
    { type: "text", re: /^[\s\S]+?(?=[^0-9A-Za-z\s\u00c0-\uffff]|\n|\w+:\S|$)/ },
  ];

  const NESTED = new Set(["spoiler", "strongEm", "strong", "underline", "em", "strike", "link"]);

  function parseInline(src, depth) {
    const out = [];
    let rest = src;
    while (rest.length) {
      let matched = false;
      for (const rule of INLINE) {
        const m = rule.re.exec(rest);
        if (!m || !m[0].length) continue;
        if (rule.type === "link" && depth.inLink) continue;
        out.push(node(rule.type, m, depth));
        rest = rest.slice(m[0].length);
        matched = true;
        break;
      }
      if (!matched) { // a lone special character
        out.push({ type: "text", text: rest[0] });
        rest = rest.slice(1);
      }
    }
    return mergeText(out);
  }

  function node(type, m, depth) {
    switch (type) {
      case "escape": return { type: "text", text: m[1] };
      case "autolink": return { type: "link", url: m[1], children: [{ type: "text", text: m[1] }] };
      case "url": return { type: "link", url: m[0], children: [{ type: "text", text: m[0] }] };
      case "userMention": case "roleMention": case "channelMention": return { type, id: m[1] };
      case "timestamp": return { type, seconds: Number(m[1]), style: m[2] || "f" };
      case "emoji": return { type: "text", text: `:${m[1]}:` };
      case "command": return { type, name: m[1] };
      case "inlineCode": return { type, text: m[2].replace(/^ (.*) $/s, "$1") };
      case "link":
        return { type, url: m[2], title: m[1], children: parseInline(m[1], { ...depth, inLink: true }) };
      case "text": return { type, text: m[0] };
      default:
        if (NESTED.has(type)) return { type, children: parseInline(m[1], depth) };
        return { type: "text", text: m[0] };
    }
  }

  function mergeText(nodes) {
    const out = [];
    for (const n of nodes) {
      const last = out[out.length - 1];
      if (n.type === "text" && last && last.type === "text") last.text += n.text;
      else out.push(n);
    }
    return out;
  }

  // Block rules only apply at the start of a line.
  const QUOTE_ALL = /^>>> ?([\s\S]*)$/;
  const QUOTE_LINE = /^> ?(.*)$/;
  const HEADING = /^(#{1,3}) +(\S.*)$/;
  const SUBTEXT = /^-# +(\S.*)$/;
  const LIST = /^ *([*-]|\d{1,9}\.) +(\S.*)$/;

  const FENCE = /```(?:([\w+#.-]+?)\n)?\n*([\s\S]*?)\n*```/g;

  /** Blocks of a message: code blocks first (nothing inside them is Markdown), then the lines around them. */
  function parseBlocks(src, options) {
    const blocks = [];
    const fence = new RegExp(FENCE.source, "g");
    let last = 0;
    let m;
    while ((m = fence.exec(src))) {
      blocks.push(...parseLines(src.slice(last, m.index).replace(/\n$/, ""), options || {}));
      blocks.push({ type: "codeBlock", lang: m[1] || "", text: m[2] });
      last = fence.lastIndex;
      if (src[last] === "\n") last += 1;
    }
    blocks.push(...parseLines(src.slice(last), options || {}));
    return blocks;
  }

  function parseLines(src, { quotes = true } = {}) {
    if (!src) return [];
    const lines = src.split("\n");
    const blocks = [];
    let para = [];
    const flush = () => {
      if (para.length) blocks.push({ type: "para", children: parseInline(para.join("\n"), {}) });
      para = [];
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      let m;
      if (quotes && line.startsWith(">>>") && (m = QUOTE_ALL.exec(lines.slice(i).join("\n")))) {
        flush();
        blocks.push({ type: "quote", children: parseLines(m[1], { quotes: false }) });
        break;
      }
      if (quotes && (line.startsWith("> ") || line === ">")) {
        flush();
        const quoted = [QUOTE_LINE.exec(line)[1]];
        while (i + 1 < lines.length && (lines[i + 1].startsWith("> ") || lines[i + 1] === ">")) {
          quoted.push(QUOTE_LINE.exec(lines[++i])[1]);
        }
        blocks.push({ type: "quote", children: parseLines(quoted.join("\n"), { quotes: false }) });
        continue;
      }
      if ((m = HEADING.exec(line))) {
        flush();
        blocks.push({ type: "heading", level: m[1].length, children: parseInline(m[2], {}) });
        continue;
      }
      if ((m = SUBTEXT.exec(line))) {
        flush();
        blocks.push({ type: "subtext", children: parseInline(m[1], {}) });
        continue;
      }
      if ((m = LIST.exec(line))) {
        flush();
        const ordered = /\d/.test(m[1]);
        const items = [parseInline(m[2], {})];
        const start = ordered ? parseInt(m[1], 10) : 1;
        while (i + 1 < lines.length) {
          const next = LIST.exec(lines[i + 1]);
          if (!next || /\d/.test(next[1]) !== ordered) break;
          items.push(parseInline(next[2], {}));
          i++;
        }
        blocks.push({ type: "list", ordered, start, items });
        continue;
      }
      para.push(line);
    }
    flush();
    return blocks;
  }

  // --- rendering ---

  function el(tag, className, children) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    for (const c of children || []) e.append(c);
    return e;
  }

  function safeUrl(url) {
    try {
      const u = new URL(url);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (_) {
      return null;
    }
  }

  const TIME_STYLES = {
    t: { hour: "2-digit", minute: "2-digit" },
    T: { hour: "2-digit", minute: "2-digit", second: "2-digit" },
    d: { day: "2-digit", month: "2-digit", year: "numeric" },
    D: { day: "numeric", month: "long", year: "numeric" },
    f: { day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit" },
    F: { weekday: "long", day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit" },
  };

  function relative(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    const units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
    const fmt = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size) return fmt.format(Math.round(seconds / size), unit);
    }
    return fmt.format(seconds, "second");
  }

  function formatTimestamp(seconds, style) {
    const date = new Date(seconds * 1000);
    if (Number.isNaN(date.getTime())) return String(seconds);
    if (style === "R") return relative(date);
    return new Intl.DateTimeFormat(undefined, TIME_STYLES[style] || TIME_STYLES.f).format(date);
  }

  function renderInline(nodes, ctx) {
    const frag = document.createDocumentFragment();
    for (const n of nodes) frag.append(renderNode(n, ctx));
    return frag;
  }

  function renderNode(n, ctx) {
    switch (n.type) {
      case "text": return document.createTextNode(n.text);
      case "strong": return el("strong", "", [renderInline(n.children, ctx)]);
      case "strongEm": return el("strong", "", [el("em", "", [renderInline(n.children, ctx)])]);
      case "em": return el("em", "", [renderInline(n.children, ctx)]);
      case "underline": return el("u", "", [renderInline(n.children, ctx)]);
      case "strike": return el("s", "", [renderInline(n.children, ctx)]);
      case "inlineCode": { const c = el("code", "md-code"); c.textContent = n.text; return c; }
      case "codeBlock": {
        const code = el("code");
        code.textContent = n.text;
        const pre = el("pre", "md-codeblock", [code]);
        if (n.lang) pre.dataset.lang = n.lang;
        return pre;
      }
      case "spoiler": {
        const s = el("span", "md-spoiler", [renderInline(n.children, ctx)]);
        s.tabIndex = 0;
        s.setAttribute("role", "button");
        s.setAttribute("aria-label", "Spoiler, click to reveal");
        const reveal = (event) => {
          if (!s.classList.contains("revealed")) { event.preventDefault(); event.stopPropagation(); }
          s.classList.add("revealed");
          s.removeAttribute("aria-label");
        };
        s.addEventListener("click", reveal);
        s.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") reveal(event); });
        return s;
      }
      case "link": {
        const href = safeUrl(n.url);
        if (!href) return renderInline(n.children, ctx);
        const a = el("a", "md-link", [renderInline(n.children, ctx)]);
        a.href = href;
        a.title = href;
        const inApp = ctx.inApp && ctx.inApp(href);
        if (inApp) { // a link to a channel of this server opens it here, as Discord's client does
          a.addEventListener("click", (event) => { event.preventDefault(); inApp(); });
        } else {
          a.target = "_blank";
          a.rel = "noopener noreferrer nofollow";
        }
        return a;
      }
      case "userMention": {
        const s = el("span", "md-mention");
        s.textContent = "@" + (ctx.userName ? ctx.userName(n.id) : "unknown-user");
        return s;
      }
      case "roleMention": {
        const s = el("span", "md-mention");
        s.textContent = "@" + (ctx.roleName ? ctx.roleName(n.id) : "unknown-role");
        return s;
      }
      case "channelMention": {
        const s = el("span", "md-mention md-channel");
        s.textContent = "#" + (ctx.channelName ? ctx.channelName(n.id) : "unknown");
        if (ctx.openChannel) {
          s.setAttribute("role", "link");
          s.tabIndex = 0;
          s.addEventListener("click", () => ctx.openChannel(n.id));
        }
        return s;
      }
      case "command": {
        const s = el("span", "md-mention");
        s.textContent = "/" + n.name;
        return s;
      }
      case "timestamp": {
        const t = el("time", "md-timestamp");
        const date = new Date(n.seconds * 1000);
        if (!Number.isNaN(date.getTime())) {
          t.dateTime = date.toISOString();
          t.title = formatTimestamp(n.seconds, "F");
        }
        t.textContent = formatTimestamp(n.seconds, n.style);
        return t;
      }
      default: return document.createTextNode("");
    }
  }

  function renderBlocks(blocks, ctx) {
    const frag = document.createDocumentFragment();
    for (const b of blocks) {
      if (b.type === "para") frag.append(renderInline(b.children, ctx));
      else if (b.type === "codeBlock") frag.append(renderNode(b, ctx));
      else if (b.type === "quote") frag.append(el("blockquote", "md-quote", [renderBlocks(b.children, ctx)]));
      else if (b.type === "heading") frag.append(el("h" + b.level, "md-heading", [renderInline(b.children, ctx)]));
      else if (b.type === "subtext") frag.append(el("small", "md-subtext", [renderInline(b.children, ctx)]));
      else if (b.type === "list") {
        const list = el(b.ordered ? "ol" : "ul", "md-list");
        if (b.ordered && b.start !== 1) list.start = b.start;
        for (const item of b.items) list.append(el("li", "", [renderInline(item, ctx)]));
        frag.append(list);
      }
      // Paragraph text keeps its own newlines (white-space: pre-wrap); blocks are separated by breaks.
      if (b.type === "para") frag.append(document.createTextNode("\n"));
    }
    // no trailing newline after the last paragraph
    const last = frag.lastChild;
    if (last && last.nodeType === Node.TEXT_NODE && last.textContent === "\n") last.remove();
    return frag;
  }

  /** Render Discord Markdown as a fragment; ctx names users, roles and channels and opens channels. */
  function render(text, ctx, options) {
    return renderBlocks(parseBlocks(String(text || ""), options), ctx || {});
  }

  window.MatineeMarkdown = { render, parseInline, parseBlocks, formatTimestamp, safeUrl };
})();
