// Letterbridge: the little JavaScript the pages use. Every page also works without it,
// except drawing redaction boxes with the mouse (there is a form for numbers instead).
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const csrf = () => ($('meta[name="csrf-token"]') || {}).content || "";

  // --- "Are you sure?" for forms and buttons that carry data-confirm -------------------
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const button = event.submitter;
    const text = (button && button.dataset.confirm) || form.dataset.confirm;
    if (text && !window.confirm(text)) event.preventDefault();
  });

  // --- keyboard shortcuts: r release, h hold with a note, n next ------------------------
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const t = event.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    const key = event.key.toLowerCase();
    if (key === "r" && $("#release-form")) {
      // A letter whose redaction could not be checked is never released by one key.
      const ack = $("#acknowledge");
      if (ack && !ack.checked) { event.preventDefault(); ack.focus(); return; }
      const button = $("#release-form button");
      if (button && !button.disabled) { event.preventDefault(); $("#release-form").requestSubmit(); }
    } else if (key === "h" && $("#hold-note")) {
      event.preventDefault(); $("#hold-note").focus();
    } else if (key === "n") {
      const next = $("#next-link") || $('[data-key="n"]');
      if (next) { event.preventDefault(); window.location.href = next.href; }
    }
  });

  // --- redaction boxes: draw to add, click to remove ------------------------------------
  function setupSheet(sheet) {
    const img = $("img", sheet);
    const svg = $("svg", sheet);
    const form = sheet.parentElement.querySelector("form.add-box");
    const NS = "http://www.w3.org/2000/svg";
    const size = () => {
      const vb = svg.viewBox.baseVal;
      return { w: vb.width, h: vb.height };
    };
    const fit = () => {
      // The image itself is the truth about its size.
      if (img.naturalWidth) svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
    };
    if (img.complete) fit(); else img.addEventListener("load", fit);

    // Listened for on the overlay, not on each box: a move done in place redraws the boxes.
    svg.addEventListener("click", (e) => {
      const rect = e.target.closest("rect.redaction");
      const remove = rect && document.getElementById(rect.dataset.form);
      if (remove) remove.requestSubmit();
    });

    let start = null;
    let drawing = null;
    const toImage = (e) => {
      const box = svg.getBoundingClientRect();
      const { w, h } = size();
      const x = Math.min(Math.max(e.clientX - box.left, 0), box.width) * (w / box.width);
      const y = Math.min(Math.max(e.clientY - box.top, 0), box.height) * (h / box.height);
      return { x: Math.round(x), y: Math.round(y) };
    };
    svg.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 || !form || e.target.closest("rect.redaction")) return;
      e.preventDefault();
      svg.setPointerCapture(e.pointerId);
      start = toImage(e);
      drawing = document.createElementNS(NS, "rect");
      drawing.setAttribute("class", "drawing");
      svg.appendChild(drawing);
    });
    svg.addEventListener("pointermove", (e) => {
      if (!start) return;
      const p = toImage(e);
      drawing.setAttribute("x", Math.min(start.x, p.x));
      drawing.setAttribute("y", Math.min(start.y, p.y));
      drawing.setAttribute("width", Math.abs(p.x - start.x));
      drawing.setAttribute("height", Math.abs(p.y - start.y));
    });
    svg.addEventListener("pointerup", (e) => {
      if (!start) return;
      const p = toImage(e);
      const [x0, x1] = [Math.min(start.x, p.x), Math.max(start.x, p.x)];
      const [y0, y1] = [Math.min(start.y, p.y), Math.max(start.y, p.y)];
      start = null;
      if (x1 - x0 < 4 || y1 - y0 < 4) { drawing.remove(); return; } // a click, not a box
      form.elements.x0.value = x0; form.elements.y0.value = y0;
      form.elements.x1.value = x1; form.elements.y1.value = y1;
      form.requestSubmit();
    });
  }
  $$('.sheet[data-editable="1"]').forEach(setupSheet);

  // --- tables on a phone: CSS stacks each row as a card; every cell is named by its column.
  // The roles keep the table a table for screen readers once CSS has made its parts blocks.
  function labelTable(table) {
    const heads = $$("thead th", table).map((th) => th.textContent.trim());
    if (!heads.length) return;
    table.setAttribute("role", "table");
    $$("thead, tbody", table).forEach((g) => g.setAttribute("role", "rowgroup"));
    $$("tr", table).forEach((tr) => tr.setAttribute("role", "row"));
    $$("thead th", table).forEach((th) => th.setAttribute("role", "columnheader"));
    $$("tbody tr", table).forEach((tr) => {
      Array.from(tr.children).forEach((cell, i) => {
        cell.setAttribute("role", cell.tagName === "TH" ? "rowheader" : "cell");
        // An empty cell (no action for this row) is left out of the card.
        if (!cell.textContent.trim() && !cell.children.length) cell.classList.add("blank");
        else if (heads[i]) cell.dataset.label = heads[i];
      });
    });
  }
  $$("table").forEach(labelTable);

  // --- times: stored and sent in UTC, shown in the reader's own time zone, named --------
  const localFormat = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  const localTime = (iso, options) => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? "" : d.toLocaleString(undefined, options || localFormat);
  };
  $$("time.local[datetime]").forEach((t) => {
    const seconds = "seconds" in t.dataset ? { second: "2-digit" } : {};
    const text = localTime(t.getAttribute("datetime"), { ...localFormat, ...seconds, timeZoneName: "short" });
    if (!text) return; // leave the UTC text
    t.title = t.textContent;
    t.textContent = text;
  });

  // --- pen pal page zoom: the screen-sized image fits the column; zooming in loads the
  // full-resolution page, and only then may the box scroll sideways -------------------
  $$(".zoomable").forEach((box) => {
    const tools = box.previousElementSibling;
    const img = $("img", box);
    let level = 1;
    const set = (n) => {
      level = Math.min(4, Math.max(1, n));
      box.className = box.className.replace(/zoom-\d/, `zoom-${level}`);
      if (level > 1 && box.dataset.full && img.getAttribute("src") !== box.dataset.full) {
        img.removeAttribute("srcset");
        img.removeAttribute("sizes");
        img.src = box.dataset.full;
      }
      // A box that scrolls must be reachable by keyboard (arrow keys pan it).
      if (level > 1) box.tabIndex = 0; else box.removeAttribute("tabindex");
    };
    $("img", box).addEventListener("click", () => set(level >= 3 ? 1 : level + 1));
    if (tools) {
      $(".zoom-in", tools).addEventListener("click", () => set(level + 1));
      $(".zoom-out", tools).addEventListener("click", () => set(level - 1));
    }
  });

  // --- upload: drag and drop, upload progress, then processing progress ---------------
  function renderStatus(root, status) {
    const body = $("tbody", root);
    body.textContent = "";
    status.files.forEach((f) => {
      const tr = document.createElement("tr");
      const cells = [f.name, f.page_count ? String(f.page_count) : "", f.status + (f.error ? ": " + f.error : "")];
      cells.forEach((text) => { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); });
      const links = document.createElement("td");
      f.items.forEach((item) => {
        const a = document.createElement("a");
        a.href = item.url; a.textContent = item.id;
        const s = document.createElement("span");
        s.className = "status status-" + item.status; s.textContent = item.status.replace("_", " ");
        const why = document.createElement("small");
        why.textContent = item.outcome || "";
        links.append(a, " ", s, " ", why, document.createElement("br"));
      });
      tr.appendChild(links);
      body.appendChild(tr);
    });
    labelTable($("table", root));
    const done = $("#upload-done", root);
    if (done) done.hidden = !status.done;
    const working = $("#upload-working", root);
    if (working && status.done) working.hidden = true;
  }
  function poll(root, url) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((status) => { renderStatus(root, status); if (!status.done) setTimeout(() => poll(root, url), 2000); })
      .catch(() => setTimeout(() => poll(root, url), 5000));
  }
  const progressRoot = $("#upload-status[data-status-url]");
  if (progressRoot) poll(progressRoot, progressRoot.dataset.statusUrl);

  const uploadForm = $("#upload-form");
  if (uploadForm) {
    const zone = $("#dropzone");
    const input = $("#files");
    const chosen = $("#chosen");
    const list = () => {
      chosen.textContent = "";
      Array.from(input.files).forEach((f) => {
        const li = document.createElement("li");
        li.textContent = `${f.name} (${Math.ceil(f.size / 1024)} KB)`;
        chosen.appendChild(li);
      });
    };
    input.addEventListener("change", list);
    ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
    zone.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; list(); } });
    uploadForm.addEventListener("submit", (e) => {
      if (!input.files.length) return;
      e.preventDefault();
      const total = Array.from(input.files).reduce((sum, f) => sum + f.size, 0);
      const limit = Number(uploadForm.dataset.maxBytes || 0);
      if (limit && total > limit) {
        window.alert("Upload refused: these files come to " + Math.ceil(total / 1048576) + " MB, more than the " + Math.floor(limit / 1048576) + " MB an upload may hold. Send them in smaller groups.");
        return;
      }
      const bar = $("#upload-progress");
      bar.hidden = false;
      const xhr = new XMLHttpRequest();
      xhr.open("POST", uploadForm.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (p) => { if (p.lengthComputable) bar.value = (100 * p.loaded) / p.total; });
      xhr.addEventListener("load", () => {
        let answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = { error: "the server did not answer" }; }
        if (xhr.status !== 200) { window.alert("Upload refused: " + (answer.error || xhr.status)); bar.hidden = true; return; }
        bar.value = 100;
        const root = $("#upload-status");
        root.hidden = false;
        history.replaceState(null, "", answer.url);
        poll(root, answer.status_url);
      });
      xhr.addEventListener("error", () => { window.alert("The upload failed; check the connection and try again."); bar.hidden = true; });
      xhr.send(new FormData(uploadForm));
    });
  }

  // --- reply editor: save the draft while the pen pal types ---------------------------
  const replyForm = $("#reply-form[data-autosave]");
  if (replyForm) {
    const state = $("#save-state");
    const text = replyForm.elements.text;
    let timer = null;
    let inflight = false;
    let dirty = false;
    const save = () => {
      if (inflight) { dirty = true; return; }
      inflight = true; dirty = false;
      const body = new URLSearchParams();
      ["csrf_token", "reply_id", "item_id", "inmate_id", "text"].forEach((k) => body.append(k, replyForm.elements[k].value));
      state.textContent = "Saving…";
      fetch(replyForm.dataset.autosave, { method: "POST", body, credentials: "same-origin",
                                          headers: { "X-CSRF-Token": csrf(), Accept: "application/json" } })
        .then((r) => r.json().then((answer) => (r.ok ? answer : Promise.reject(answer.error))))
        .then((answer) => {
          replyForm.elements.reply_id.value = answer.reply_id;
          const at = answer.saved_iso
            ? localTime(answer.saved_iso, { hour: "2-digit", minute: "2-digit", second: "2-digit" })
            : "";
          state.textContent = at ? `Draft saved at ${at}.` : `Draft saved at ${answer.saved_at} UTC.`;
          state.dataset.saved = answer.reply_id;
        })
        .catch((why) => {
          state.textContent = typeof why === "string"
            ? `Not saved: ${why}.`
            : "Not saved: the connection failed. Your text is still here; try Save draft.";
        })
        .finally(() => { inflight = false; if (dirty) save(); });
    };
    text.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { timer = null; save(); }, 800); });
    text.addEventListener("blur", () => { if (timer) { clearTimeout(timer); timer = null; save(); } });
  }

  // --- mailroom moves in place: a form marked data-inplace is sent with fetch, which follows
  // the redirect to the letter as a plain post would; the parts of the page marked
  // data-fragment are taken from that answer (the page images are not loaded again) and its
  // message is read out in #live. Without JS the same forms post and redirect. -----------
  // A part holding what the person typed or ticked and has not sent yet is left as it is.
  const unsent = (root) => $$("input, textarea", root).some((el) =>
    (el.type === "checkbox" ? el.checked !== el.defaultChecked : el.value !== el.defaultValue));
  function swapIn(doc, form) {
    $$("[data-fragment]", doc).forEach((fresh) => {
      const old = fresh.id && document.getElementById(fresh.id);
      if (!old || (!old.contains(form) && unsent(old))) return;
      if (fresh.dataset.fragment === "inner") old.innerHTML = fresh.innerHTML;
      else old.replaceWith(document.importNode(fresh, true));
    });
    $$("main > p.flash").forEach((p) => p.remove()); // the last page load's message is old news
    $$("[data-fragment] table").forEach(labelTable);
  }
  function inPlace(form, submitter) {
    const live = $("#live");
    const fields = new URLSearchParams(new FormData(form, submitter));
    const post = form.method.toLowerCase() === "post";
    const url = new URL(form.action, window.location.href);
    if (!post) url.search = fields.toString();
    url.hash = "";
    const action = form.getAttribute("action");
    const say = (text, error) => {
      live.textContent = text;
      live.className = "live flash" + (error ? " flash-error" : "");
    };
    say(""); // the last move's answer goes while this one is on its way
    form.setAttribute("aria-busy", "true");
    fetch(url, post ? { method: "POST", body: fields, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } }
                    : { credentials: "same-origin" })
      .then((r) => {
        if (!r.ok) { say(`Not done: the server answered ${r.status}.`, true); return null; }
        // Led somewhere else (the login page, after a session ended): go there.
        const there = new URL(r.url);
        if (there.pathname !== window.location.pathname) { window.location.assign(r.url); return null; }
        return r.text().then((html) => {
          const doc = new DOMParser().parseFromString(html, "text/html");
          const flash = $("main > p.flash", doc);
          swapIn(doc, form);
          // The address is the page now shown (a search's words; none after a move).
          history.replaceState(null, "", there.pathname + there.search + window.location.hash);
          const failed = Boolean(flash && flash.classList.contains("flash-error"));
          say(flash ? flash.textContent : "", failed);
          if (!failed && document.contains(form)) form.reset(); // sent: a drawn box's numbers go
          // Focus stays where the person was, or comes to the message when that part is gone.
          if (!document.activeElement || document.activeElement === document.body) {
            const again = $(`form[action="${CSS.escape(action)}"] [type=submit]`);
            (again || live).focus();
          }
        });
      })
      .catch(() => say("Not done: the connection failed. Try again.", true))
      .finally(() => form.removeAttribute("aria-busy"));
  }
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (event.defaultPrevented || !form.matches("form[data-inplace]") || !$("#live")) return;
    event.preventDefault();
    inPlace(form, event.submitter);
  });

  // --- transcription beside the page: the line being corrected is outlined on the image ----
  const outlineLine = (area) => {
    const svg = document.getElementById(`overlay-${area.dataset.page}`);
    if (!svg) return;
    const n = area.value.slice(0, area.selectionStart).split("\n").length - 1;
    const box = (JSON.parse(area.dataset.lines || "[]"))[n];
    let mark = $("rect.reading-line", svg);
    if (!box) { if (mark) mark.remove(); return; }
    if (!mark) {
      mark = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      mark.setAttribute("class", "reading-line");
      svg.appendChild(mark);
    }
    const [x0, y0, x1, y1] = box;
    mark.setAttribute("x", x0 - 6); mark.setAttribute("y", y0 - 6);
    mark.setAttribute("width", x1 - x0 + 12); mark.setAttribute("height", y1 - y0 + 12);
  };
  ["focusin", "keyup", "click"].forEach((type) => document.addEventListener(type, (event) => {
    if (event.target.matches && event.target.matches("textarea[data-lines]")) outlineLine(event.target);
  }));
})();
