// ggswap management page: plain ES modules, no framework, no build step (every file below web/
// is embedded into the binary and served under /ui/). Everything live comes from one event
// stream (events.js over sse.js, never polled): `service` replaces the whole state, `model`
// updates one row, `log` and `request` append. Timers only tick clocks locally.
//
// A panel is a module with an init() that finds its elements in index.html, subscribes to the
// events (events.on) and state topics (state.watch) it shows, and renders its own part. To add
// one: write web/js/NAME.js, put its <section> in index.html, and list it in PANELS below.
import * as events from './events.js';
import { S, setConnected, setService, applyModel } from './state.js';
import { $ } from './dom.js';
import * as service from './service.js';
import * as models from './models.js';
import * as playground from './playground.js';
import * as requests from './requests.js';
import * as logs from './logs.js';
import * as downloads from './downloads.js';
import * as memory from './memory.js';

const PANELS = [service, models, memory, downloads, playground, requests, logs];

const CONN_TEXT = { live: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…' };

function showConn(st) {
  $('conn').dataset.state = st;
  $('conn-text').textContent = CONN_TEXT[st] || st;
  document.body.classList.toggle('stale', st !== 'live' && S.everConnected);
}

function init() {
  for (const p of PANELS) p.init();
  events.on('service', setService);
  events.on('model', (d) => { if (d.id) applyModel(d); });
  events.onState((st) => {
    showConn(st);
    if ((st === 'live') !== S.connected) setConnected(st === 'live');
  });
  events.start();
}

init();
