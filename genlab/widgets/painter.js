// genlab mask painter: an anywidget ES module (no build step).
// The Python side (genlab/widgets/painter.py) owns the mask history and the
// models; this file only draws the image, lets the user paint, and sends the
// mask back when a stroke ends (one message per stroke keeps the kernel calm).
// Traits: height, width, scale (screen px per image pixel), pixels (H*W*3 RGB
// 0..255), mask (H*W of 0/1, 1 = missing), brush (diameter in image pixels),
// mode ("paint" | "erase"), ready (set here so Python knows the canvas loaded).

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "genlab-painter";
  const canvas = document.createElement("canvas");
  canvas.className = "genlab-painter-canvas";
  canvas.style.touchAction = "none"; // a finger paints instead of scrolling the page
  canvas.style.cursor = "crosshair";
  canvas.style.display = "block";
  canvas.style.border = "1px solid #999";
  const hint = document.createElement("div");
  hint.className = "genlab-painter-hint";
  hint.style.fontSize = "11px";
  hint.style.color = "#666";
  hint.textContent = "drag to paint the hole · right button or Shift to erase";
  root.appendChild(canvas);
  root.appendChild(hint);
  el.appendChild(root);

  let mask = new Uint8Array(0);
  let drawing = false;
  let value = 1;
  let last = null;

  const dims = () => [model.get("height"), model.get("width"), model.get("scale")];

  function loadMask() {
    const [h, w] = dims();
    const m = model.get("mask") || [];
    mask = new Uint8Array(h * w);
    for (let i = 0; i < Math.min(m.length, mask.length); i++) mask[i] = m[i] ? 1 : 0;
  }

  function draw() {
    const [h, w, s] = dims();
    if (canvas.width !== w * s) canvas.width = w * s;
    if (canvas.height !== h * s) canvas.height = h * s;
    const ctx = canvas.getContext("2d");
    const px = model.get("pixels") || [];
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const k = i * w + j;
        let r = px[3 * k] || 0, g = px[3 * k + 1] || 0, b = px[3 * k + 2] || 0;
        if (mask[k]) { // tint the hole red but keep the image faintly visible
          r = Math.round(0.3 * r + 0.7 * 230);
          g = Math.round(0.3 * g + 0.7 * 60);
          b = Math.round(0.3 * b + 0.7 * 60);
        }
        ctx.fillStyle = `rgb(${r},${g},${b})`;
        ctx.fillRect(j * s, i * s, s, s);
      }
    }
    if (s >= 8) { // faint pixel grid so students see what one pixel is
      ctx.strokeStyle = "rgba(128,128,128,0.25)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let i = 1; i < h; i++) { ctx.moveTo(0, i * s + 0.5); ctx.lineTo(w * s, i * s + 0.5); }
      for (let j = 1; j < w; j++) { ctx.moveTo(j * s + 0.5, 0); ctx.lineTo(j * s + 0.5, h * s); }
      ctx.stroke();
    }
  }

  // Pointer position in image-pixel coordinates (continuous), robust to CSS scaling.
  function toPixel(e) {
    const [h, w] = dims();
    const rect = canvas.getBoundingClientRect();
    return [((e.clientX - rect.left) / rect.width) * w, ((e.clientY - rect.top) / rect.height) * h];
  }

  // Set every pixel whose centre lies in a disc of diameter `brush` around (x, y).
  function stamp(x, y) {
    const [h, w] = dims();
    const rad = Math.max(0.5, model.get("brush") / 2);
    const i0 = Math.max(0, Math.floor(y - rad)), i1 = Math.min(h - 1, Math.ceil(y + rad));
    const j0 = Math.max(0, Math.floor(x - rad)), j1 = Math.min(w - 1, Math.ceil(x + rad));
    for (let i = i0; i <= i1; i++) {
      for (let j = j0; j <= j1; j++) {
        const dy = i + 0.5 - y, dx = j + 0.5 - x;
        if (dx * dx + dy * dy <= rad * rad + 1e-9) mask[i * w + j] = value;
      }
    }
    const ci = Math.floor(y), cj = Math.floor(x); // the pixel under the pointer, always
    if (ci >= 0 && ci < h && cj >= 0 && cj < w) mask[ci * w + cj] = value;
  }

  // Stamp along the segment so a fast stroke leaves no gaps.
  function line(a, b) {
    const n = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) * 4));
    for (let t = 1; t <= n; t++) stamp(a[0] + ((b[0] - a[0]) * t) / n, a[1] + ((b[1] - a[1]) * t) / n);
  }

  function onDown(e) {
    if (e.button !== 0 && e.button !== 2) return;
    e.preventDefault();
    e.stopPropagation(); // keep JupyterLab from starting a cell drag or selection
    value = model.get("mode") === "erase" || e.button === 2 || e.shiftKey ? 0 : 1;
    drawing = true;
    try { canvas.setPointerCapture(e.pointerId); } catch (_) { /* synthetic events */ }
    last = toPixel(e);
    stamp(last[0], last[1]);
    draw();
  }

  function onMove(e) {
    if (!drawing) return;
    e.preventDefault();
    const p = toPixel(e);
    line(last, p);
    last = p;
    draw();
  }

  function onUp(e) {
    if (!drawing) return;
    if (e) e.preventDefault();
    drawing = false;
    last = null;
    // One message per stroke: Python recomputes the restorations once.
    model.set("mask", Array.from(mask));
    model.save_changes();
  }

  canvas.addEventListener("pointerdown", onDown);
  canvas.addEventListener("pointermove", onMove);
  canvas.addEventListener("pointerup", onUp);
  canvas.addEventListener("pointercancel", onUp);
  canvas.addEventListener("lostpointercapture", onUp);
  canvas.addEventListener("mousedown", (e) => e.stopPropagation());
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());

  const redrawAll = () => { if (!drawing) { loadMask(); draw(); } };
  const redraw = () => draw();
  model.on("change:mask", redrawAll);
  model.on("change:height", redrawAll);
  model.on("change:width", redrawAll);
  model.on("change:pixels", redraw);
  model.on("change:scale", redraw);

  loadMask();
  draw();
  model.set("ready", true);
  model.save_changes();

  return () => {
    model.off("change:mask", redrawAll);
    model.off("change:height", redrawAll);
    model.off("change:width", redrawAll);
    model.off("change:pixels", redraw);
    model.off("change:scale", redraw);
  };
}

export default { render };
