"use strict";
// The Kairos page: POST /v1/search, show moments with thumbnails, what matched and where in the video;
// a click plays the moment from its start.
const form = document.getElementById("search-form");
const query = document.getElementById("query");
const statusLine = document.getElementById("status");
const results = document.getElementById("results");
const panel = document.getElementById("player-panel");
const player = document.getElementById("player");
const nowPlaying = document.getElementById("now-playing");

function seconds(t) {
  const m = Math.floor(t / 60);
  const s = (t - 60 * m).toFixed(1).padStart(4, "0");
  return `${m}:${s}`;
}

function play(moment) {
  const src = `/v1/videos/${encodeURIComponent(moment.video_id)}/media`;
  panel.hidden = false;
  nowPlaying.textContent = `${moment.video_id} — ${seconds(moment.start)} to ${seconds(moment.end)}`;
  const seek = () => { player.currentTime = moment.start; player.play().catch(() => {}); };
  if (player.dataset.src !== src) {
    player.dataset.src = src;
    player.src = src;
    player.addEventListener("loadedmetadata", seek, { once: true });
  } else {
    seek();
  }
  player.dataset.stop = String(moment.end);
}

player.addEventListener("timeupdate", () => {
  const stop = Number(player.dataset.stop);
  if (stop && player.currentTime >= stop) { player.pause(); player.dataset.stop = ""; }
});

// A bar the width of the whole video with the moment marked on it.
function timeline(moment) {
  const bar = document.createElement("div");
  bar.className = "timeline";
  bar.title = `${seconds(moment.start)} – ${seconds(moment.end)} of ${seconds(moment.video_duration)}`;
  const mark = document.createElement("span");
  const whole = Math.max(moment.video_duration, moment.end, 1e-6);
  mark.style.left = `${(100 * moment.start) / whole}%`;
  mark.style.width = `${Math.max((100 * (moment.end - moment.start)) / whole, 1)}%`;
  bar.append(mark);
  return bar;
}

function card(moment) {
  const item = document.createElement("li");
  item.className = "moment";
  item.tabIndex = 0;
  item.dataset.videoId = moment.video_id;
  item.dataset.start = String(moment.start);
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = `${moment.video_id} at ${seconds(moment.start)}`;
  img.src = `/v1/videos/${encodeURIComponent(moment.video_id)}/thumbnail?t=${moment.start}`;
  const info = document.createElement("div");
  info.className = "info";
  const video = document.createElement("div");
  video.className = "video";
  video.textContent = moment.video_id;
  const span = document.createElement("div");
  span.className = "span";
  span.textContent = `${seconds(moment.start)} – ${seconds(moment.end)}`;
  const score = document.createElement("div");
  score.className = "score";
  score.textContent = `score ${moment.score.toFixed(3)}`;
  info.append(video, span, score, timeline(moment));
  for (const line of moment.matched) {
    const said = document.createElement("div");
    said.className = "matched";
    said.dataset.stream = line.stream;
    said.textContent = `${line.stream}: ${line.text}`;
    info.append(said);
  }
  item.append(img, info);
  item.addEventListener("click", () => play(moment));
  item.addEventListener("keydown", (e) => { if (e.key === "Enter") play(moment); });
  return item;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  statusLine.textContent = "Searching…";
  results.replaceChildren();
  try {
    const response = await fetch("/v1/search", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query: query.value, limit: 12, max_per_video: 3 }),
    });
    const body = await response.json();
    if (!response.ok) {
      statusLine.textContent = body.error ? body.error.message : `error ${response.status}`;
      return;
    }
    results.replaceChildren(...body.moments.map(card));
    const cached = body.cached ? ", cached" : "";
    statusLine.textContent = `${body.moments.length} moments in ${body.took_ms.toFixed(1)} ms${cached}`;
  } catch (err) {
    statusLine.textContent = `The search failed: ${err}`;
  }
});
