// ipygemini ChatPanel front end (anywidget ESM; no build step).
// Safety rule: the only HTML inserted here is what the kernel rendered with ipygemini.render
// (markdown-it-py -> nh3). Everything else (labels, status, user text for editing) is set as text.

const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
const ACK_PATIENCE_MS = 300;
const REVEAL_MS = 40; // a streaming answer shows new text about 25 times a second (see reveal)

function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(className, text, title) {
  const b = h("button", "ipygemini-button " + className, text);
  b.type = "button";
  if (title) b.title = title;
  return b;
}

function iconButton(className, label, title) {
  // a small labelled icon button (the icon is CSS, so the label stays the button's text)
  const b = button("ipygemini-icon-button " + className, label, title);
  b.setAttribute("aria-label", title || label);
  return b;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    const area = h("textarea");
    area.value = text;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

function flash(b, text) {
  const old = b.textContent;
  b.textContent = text;
  setTimeout(() => (b.textContent = old), 1200);
}

function render({ model, el }) {
  const view = Math.random().toString(36).slice(2) + Date.now().toString(36);
  const urls = [];
  const entries = new Map();
  let seq = 0;
  let waiting = null; // {seq, text, timer}
  let editing = false;

  // -- layout ------------------------------------------------------------------------------------
  const root = h("div", "ipygemini-panel");
  // keys typed in the panel are the panel's: no notebook shortcut (Shift+Enter runs a cell)
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  const header = h("div", "ipygemini-header");
  const modelMenu = h("select", "ipygemini-model");
  modelMenu.title = "Model for the next message";
  const thinkingLabel = h("label", "ipygemini-thinking-toggle");
  const thinkingBox = h("input");
  thinkingBox.type = "checkbox";
  thinkingBox.setAttribute("role", "switch");
  thinkingLabel.append(thinkingBox, document.createTextNode(" Thinking"));
  const tempLabel = h("label", "ipygemini-temperature");
  const temp = h("input");
  temp.type = "range";
  temp.min = "0";
  temp.max = "2";
  temp.step = "0.1";
  temp.setAttribute("aria-label", "Temperature");
  const tempValue = h("span", "ipygemini-temperature-value");
  tempLabel.append(document.createTextNode("Temp "), temp, tempValue);
  const newChat = button("ipygemini-new-chat", "New chat", "Clear the transcript and the model's memory");
  header.append(modelMenu, thinkingLabel, tempLabel, newChat);

  const transcript = h("div", "ipygemini-transcript");
  const hint = h("div", "ipygemini-hint", "Ask anything. Enter sends, Shift+Enter adds a line; drop or paste files to attach them.");
  transcript.append(hint);
  const busyNote = h("div", "ipygemini-busy", "waiting for the kernel… (another cell is running)");
  busyNote.hidden = true;
  const chips = h("div", "ipygemini-chips");
  const editNote = h("div", "ipygemini-edit-note", "Editing your last message: Enter re-sends it, Escape cancels.");
  editNote.hidden = true;
  const inputRow = h("div", "ipygemini-input-row");
  const input = h("textarea", "ipygemini-input");
  input.rows = 3;
  input.placeholder = "Message Gemini…";
  const buttons = h("div", "ipygemini-buttons");
  const send = button("ipygemini-send", "Send", "Send (Enter)");
  const stop = button("ipygemini-stop", "Stop", "Stop the answer (Escape)");
  buttons.append(send, stop);
  inputRow.append(input, buttons);
  const attachRow = h("div", "ipygemini-attach-row");
  const varMenu = h("select", "ipygemini-variables");
  varMenu.title = "Notebook variables that can be attached";
  const attachVar = button("ipygemini-attach", "Attach", "Attach the chosen notebook variable");
  const upload = h("input", "ipygemini-upload");
  upload.type = "file";
  upload.multiple = true;
  upload.hidden = true; // no bare "Choose Files / No file chosen": the button below opens it
  upload.tabIndex = -1;
  const attachFiles = button("ipygemini-attach-files", "Attach files…", "Attach files (or drop or paste them here)");
  attachFiles.addEventListener("click", () => upload.click());
  attachRow.append(varMenu, attachVar, attachFiles, upload);
  const status = h("div", "ipygemini-status");
  root.append(header, transcript, busyNote, chips, editNote, inputRow, attachRow, status);
  el.appendChild(root);

  // -- traits -> DOM -----------------------------------------------------------------------------
  function syncModels() {
    const current = model.get("model");
    const names = [...new Set([current, ...(model.get("models") || [])])].filter(Boolean);
    modelMenu.replaceChildren(...names.map((n) => Object.assign(h("option", "", n), { value: n })));
    modelMenu.value = current;
  }
  function syncVariables() {
    const items = model.get("variables") || [];
    const first = h("option", "", items.length ? "Attach a variable…" : "(no attachable variables)");
    first.value = "";
    varMenu.replaceChildren(first, ...items.map(([n, l]) => Object.assign(h("option", "", l), { value: n })));
  }
  function syncChips() {
    chips.replaceChildren(
      ...(model.get("pending_labels") || []).map((text, index) => {
        const chip = h("span", "ipygemini-chip", "📎 " + text + " ");
        const remove = button("ipygemini-chip-remove", "✕", "Remove this attachment");
        remove.addEventListener("click", () => model.send({ type: "detach", index }));
        chip.append(remove);
        return chip;
      }),
    );
  }
  function syncBusy() {
    const streaming = model.get("busy");
    stop.disabled = !streaming;
    send.disabled = streaming || (waiting !== null && waiting.late);
    root.classList.toggle("ipygemini-streaming", streaming);
  }
  function syncStatus() {
    status.textContent = model.get("status");
    status.classList.toggle("ipygemini-error", model.get("status_error"));
  }
  function syncOptions() {
    thinkingBox.checked = model.get("thinking");
    temp.value = String(model.get("temperature"));
    tempValue.textContent = Number(model.get("temperature")).toFixed(1);
    transcript.style.maxHeight = model.get("height");
  }
  const listeners = [
    ["change:model change:models", syncModels],
    ["change:variables", syncVariables],
    ["change:pending_labels", syncChips],
    ["change:busy", syncBusy],
    ["change:status change:status_error", syncStatus],
    ["change:thinking change:temperature change:height", syncOptions],
  ];
  for (const [events, fn] of listeners) {
    for (const e of events.split(" ")) model.on(e, fn);
    fn();
  }

  // -- DOM -> kernel -----------------------------------------------------------------------------
  function save(name, value) {
    model.set(name, value);
    model.save_changes();
  }
  modelMenu.addEventListener("change", () => save("model", modelMenu.value));
  thinkingBox.addEventListener("change", () => save("thinking", thinkingBox.checked));
  temp.addEventListener("input", () => (tempValue.textContent = Number(temp.value).toFixed(1)));
  temp.addEventListener("change", () => save("temperature", Number(temp.value)));
  newChat.addEventListener("click", () => {
    cancelEdit();
    model.send({ type: "new_chat" });
  });
  stop.addEventListener("click", () => model.send({ type: "stop" }));
  varMenu.addEventListener("focus", () => model.send({ type: "refresh" }));
  attachVar.addEventListener("click", () => model.send({ type: "attach", name: varMenu.value }));

  function submit() {
    if (waiting !== null || model.get("busy")) return; // one Send at a time
    const text = input.value;
    seq += 1;
    waiting = { seq, text, late: false };
    waiting.timer = setTimeout(() => {
      if (waiting === null) return;
      waiting.late = true;
      busyNote.hidden = false;
      syncBusy();
    }, ACK_PATIENCE_MS);
    model.send({ type: "send", seq, text, edit: editing });
  }
  function acknowledged(msg) {
    if (waiting === null || msg.seq !== waiting.seq) return;
    clearTimeout(waiting.timer);
    const sent = waiting.text;
    waiting = null;
    busyNote.hidden = true;
    if (msg.accepted) {
      if (input.value === sent) input.value = "";
      cancelEdit();
    }
    syncBusy();
  }
  function cancelEdit() {
    editing = false;
    editNote.hidden = true;
  }
  send.addEventListener("click", submit);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape") {
      if (model.get("busy")) model.send({ type: "stop" });
      else if (editing) cancelEdit();
    }
  });
  root.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && event.target !== input && model.get("busy")) model.send({ type: "stop" });
    event.stopPropagation();
  });

  async function sendFiles(files) {
    for (const file of files) {
      const data = await file.arrayBuffer();
      model.send({ type: "file", name: file.name || "pasted image", mime: file.type }, undefined, [data]);
    }
  }
  upload.addEventListener("change", async () => {
    await sendFiles([...upload.files]);
    upload.value = "";
  });
  root.addEventListener("dragover", (event) => {
    if (event.dataTransfer && [...event.dataTransfer.types].includes("Files")) {
      event.preventDefault();
      root.classList.add("ipygemini-dropping");
    }
  });
  root.addEventListener("dragleave", () => root.classList.remove("ipygemini-dropping"));
  root.addEventListener("drop", (event) => {
    root.classList.remove("ipygemini-dropping");
    if (event.dataTransfer && event.dataTransfer.files.length) {
      event.preventDefault();
      sendFiles([...event.dataTransfer.files]);
    }
  });
  input.addEventListener("paste", (event) => {
    const files = event.clipboardData ? [...event.clipboardData.files] : [];
    if (files.length) {
      event.preventDefault();
      sendFiles(files);
    }
  });

  // -- the transcript: ops from the kernel --------------------------------------------------------
  function nearBottom() {
    return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 60;
  }
  function addCodeTools(block) {
    for (const pre of block.querySelectorAll("pre")) {
      // the tools sit on the block's top right corner; the code is read before any reveal
      const code = pre.textContent;
      const wrap = h("div", "ipygemini-code");
      const tools = h("div", "ipygemini-code-tools");
      const copy = iconButton("ipygemini-copy ipygemini-copy-code", "Copy", "Copy this code");
      const insert = iconButton("ipygemini-insert-code", "To cell", "Put this code in a new cell below the active cell");
      copy.addEventListener("click", async () => flash(copy, (await copyText(code)) ? "Copied" : "Copy failed"));
      insert.addEventListener("click", async () => {
        await copyText(code);
        model.send({ type: "insert", code });
      });
      tools.append(copy, insert);
      pre.replaceWith(wrap);
      wrap.append(pre, tools);
    }
  }
  function updateEditButtons() {
    const users = transcript.querySelectorAll(".ipygemini-user");
    users.forEach((u, i) => u.classList.toggle("ipygemini-last-user", i === users.length - 1));
    const answers = transcript.querySelectorAll(".ipygemini-assistant");
    answers.forEach((a, i) => a.classList.toggle("ipygemini-last-answer", i === answers.length - 1));
  }
  function addEntry(op) {
    const node = h("div", "ipygemini-message ipygemini-" + op.role + (op.role === "assistant" ? " ipygemini-answer" : ""));
    node.dataset.id = String(op.id);
    const entry = { node, body: h("div", "ipygemini-body"), tail: h("div", "ipygemini-tail"), thinking: null };
    node.append(entry.body);
    if (op.role === "assistant") {
      node.append(entry.tail);
      node.classList.add("ipygemini-streaming-answer");
      entry.reveal = { shown: 0, target: 0, rate: 0, gap: 250, arrived: 0, timer: null };
    }
    if (op.role === "user") {
      const edit = iconButton("ipygemini-edit", "Edit", "Edit and re-send this message");
      const text = op.text || "";
      edit.addEventListener("click", () => {
        input.value = text; // plain text, never HTML
        editing = true;
        editNote.hidden = false;
        input.focus();
      });
      node.append(edit);
    }
    hint.hidden = true;
    transcript.append(node);
    entries.set(op.id, entry);
    updateEditButtons();
  }
  function finishEntry(entry, op) {
    stopReveal(entry, true);
    entry.tail.replaceChildren();
    entry.node.classList.remove("ipygemini-streaming-answer");
    entry.node.dataset.status = op.status;
    if (op.error) entry.node.append(Object.assign(h("div", "ipygemini-error-note"), { innerHTML: op.error }));
    if (op.footer) entry.node.append(Object.assign(h("div", "ipygemini-footer"), { innerHTML: op.footer }));
    if (entry.thinking) entry.thinking.open = false;
    const actions = h("div", "ipygemini-actions");
    const copy = iconButton("ipygemini-copy ipygemini-copy-answer", "Copy", "Copy the answer as Markdown");
    copy.addEventListener("click", () => model.send({ type: "copy", id: Number(entry.node.dataset.id) }));
    const again = iconButton("ipygemini-regenerate", "Regenerate", "Ask again, replacing this answer");
    again.addEventListener("click", () => model.send({ type: "regenerate", id: Number(entry.node.dataset.id) }));
    actions.append(copy, again);
    entry.node.append(actions);
    entry.copyButton = copy;
  }
  // -- smooth streaming ----------------------------------------------------------------------------
  // The kernel sends a streaming answer a few times a second (its bytes are budgeted: each
  // message costs ~0.5 kB besides the text). New text is revealed here a few characters at a
  // time, every REVEAL_MS, at the pace it arrives, so it flows instead of jumping.
  const fullText = new WeakMap(); // text node -> its whole text
  function revealNodes(entry) {
    const nodes = [];
    for (const root of [entry.body, entry.tail]) {
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
        acceptNode: (n) => (n.parentElement.closest(".ipygemini-code-tools") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
      });
      for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n);
    }
    return nodes;
  }
  function layoutReveal(entry) {
    // show the first `shown` characters of the answer; returns how many there are in all
    let left = entry.reveal.shown;
    let total = 0;
    for (const node of revealNodes(entry)) {
      if (!fullText.has(node)) fullText.set(node, node.data);
      const full = fullText.get(node);
      total += full.length;
      const text = left >= full.length ? full : full.slice(0, Math.max(left, 0));
      if (node.data !== text) node.data = text;
      left -= full.length;
    }
    return total;
  }
  function arrived(entry) {
    const r = entry.reveal;
    if (!r) return; // ended in the same message
    const now = performance.now();
    if (r.arrived) r.gap = Math.min(1500, Math.max(100, 0.5 * r.gap + 0.5 * (now - r.arrived)));
    r.arrived = now;
    r.target = layoutReveal(entry);
    r.shown = Math.min(r.shown, r.target);
    r.rate = (r.target - r.shown) / r.gap; // characters per millisecond until the next arrival
    if (r.timer === null && r.shown < r.target) r.timer = setTimeout(() => tick(entry), REVEAL_MS);
  }
  function tick(entry) {
    const r = entry.reveal;
    r.timer = null;
    r.shown = Math.min(r.target, r.shown + Math.max(1, Math.ceil(r.rate * REVEAL_MS)));
    const follow = nearBottom();
    r.target = layoutReveal(entry);
    if (follow) transcript.scrollTop = transcript.scrollHeight;
    if (r.shown < r.target) r.timer = setTimeout(() => tick(entry), REVEAL_MS);
  }
  function stopReveal(entry, showAll) {
    const r = entry.reveal;
    if (!r) return;
    if (r.timer !== null) clearTimeout(r.timer);
    r.timer = null;
    if (showAll) {
      r.shown = Infinity;
      layoutReveal(entry);
    }
    entry.reveal = null;
  }

  function apply(op, buffers) {
    if (op.op === "clear") {
      for (const e of entries.values()) stopReveal(e, false);
      for (const url of urls.splice(0)) URL.revokeObjectURL(url);
      entries.clear();
      transcript.replaceChildren(hint);
      hint.hidden = false;
      return;
    }
    if (op.op === "add") return addEntry(op);
    const entry = entries.get(op.id);
    if (!entry) return;
    if (op.op === "remove") {
      stopReveal(entry, false);
      entry.node.remove();
      entries.delete(op.id);
      updateEditButtons();
    } else if (op.op === "block") {
      const block = h("div", "ipygemini-block");
      block.innerHTML = op.html; // rendered and sanitized by the kernel (ipygemini.render)
      addCodeTools(block);
      entry.body.append(block);
    } else if (op.op === "tail") {
      entry.tail.innerHTML = op.html; // rendered and sanitized by the kernel
    } else if (op.op === "image") {
      if (!IMAGE_TYPES.has(op.mime) || !buffers[op.buffer]) return;
      const url = URL.createObjectURL(new Blob([buffers[op.buffer]], { type: op.mime }));
      urls.push(url);
      const img = h("img", "ipygemini-image");
      img.src = url;
      img.alt = "image";
      entry.body.append(img);
    } else if (op.op === "thinking") {
      if (!entry.thinking) {
        entry.thinking = h("details", "ipygemini-thinking");
        entry.thinking.append(h("summary"), h("div", "ipygemini-thinking-body"));
        entry.node.prepend(entry.thinking);
      }
      entry.thinking.firstChild.textContent = op.title;
      entry.thinking.lastChild.innerHTML = op.html; // rendered and sanitized by the kernel
      entry.thinking.open = !op.done;
    } else if (op.op === "end") {
      finishEntry(entry, op);
    }
  }
  function onMessage(msg, buffers) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "ops") {
      if (msg.view !== undefined && msg.view !== view) return; // another view's snapshot
      const follow = nearBottom();
      const grown = new Set();
      for (const op of msg.ops) {
        apply(op, buffers || []);
        const entry = entries.get(op.id);
        if (entry && entry.reveal && (op.op === "block" || op.op === "tail")) grown.add(entry);
      }
      for (const entry of grown) arrived(entry);
      if (follow) transcript.scrollTop = transcript.scrollHeight;
    } else if (msg.type === "ack") {
      acknowledged(msg);
    } else if (msg.type === "reveal") {
      reveal(msg.id, 60);
    } else if (msg.type === "confirm") {
      // An MCP tool that is not read-only asks before it runs (all set as text, nothing as HTML).
      const box = h("div", "ipygemini-confirm");
      box.dataset.confirm = String(msg.id);
      box.append(h("span", "", "Run " + msg.tool + "(" + msg.arguments + ")? "));
      for (const [label, allow] of [["Allow", true], ["Deny", false]]) {
        const b = button("ipygemini-confirm-" + label.toLowerCase(), label, label + " this call");
        b.addEventListener("click", () => model.send({ type: "confirm", id: msg.id, allow }));
        box.append(b);
      }
      transcript.append(box);
      transcript.scrollTop = transcript.scrollHeight;
    } else if (msg.type === "confirmed") {
      for (const box of transcript.querySelectorAll('[data-confirm="' + Number(msg.id) + '"]')) box.remove();
    } else if (msg.type === "clipboard") {
      const entry = entries.get(msg.id);
      copyText(msg.text).then((ok) => entry && entry.copyButton && flash(entry.copyButton, ok ? "Copied" : "Copy failed"));
    }
  }
  // the view in the sidebar shows its own tab when hidden (the kernel runs the shell command)
  function reveal(id, tries) {
    if (!el.isConnected) {
      if (tries > 0) requestAnimationFrame(() => reveal(id, tries - 1));
      return;
    }
    const host = el.closest("#" + CSS.escape(id));
    if (!host || host.getClientRects().length) return;
    const tabs = [...document.querySelectorAll(".jp-SideBar.jp-mod-right .lm-TabBar-tab")];
    model.send({ type: "reveal", id, index: tabs.findIndex((tab) => tab.dataset.id === id) });
  }
  model.on("msg:custom", onMessage);
  model.send({ type: "hello", view });

  return () => {
    model.off("msg:custom", onMessage);
    for (const [events, fn] of listeners) for (const e of events.split(" ")) model.off(e, fn);
    if (waiting) clearTimeout(waiting.timer);
    for (const entry of entries.values()) stopReveal(entry, false);
    for (const url of urls) URL.revokeObjectURL(url);
  };
}

export default { render };
