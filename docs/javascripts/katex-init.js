// Renders the math that pymdownx.arithmatex (generic mode) leaves in the page:
// <span class="arithmatex">\( ... \)</span> inline, <div class="arithmatex">\[ ... \]</div> display.
// KaTeX is served from docs/javascripts/katex, so no network is needed.
document$.subscribe(({ body }) => {
  for (const el of body.querySelectorAll(".arithmatex")) {
    if (el.dataset.katex === "done") continue;
    const text = el.textContent.trim();
    const display = el.tagName === "DIV";
    const tex = text.replace(/^\\[\(\[]/, "").replace(/\\[\)\]]$/, "");
    katex.render(tex, el, { displayMode: display, throwOnError: false });
    el.dataset.katex = "done";
  }
});
