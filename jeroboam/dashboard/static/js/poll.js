// Refreshing a page's data by itself: fast while something is moving, slow when all is settled,
// not at all while the tab is hidden. One poller per page, stopped when the page is left.

export const FAST_MS = 2000;
export const SLOW_MS = 15000;

export class Poller {
  // `tick` returns true when something is in progress (poll again soon).
  constructor(tick) {
    this.tick = tick;
    this.timer = null;
    this.stopped = false;
    this.running = false;
    this.onVisible = () => {
      if (!document.hidden && !this.stopped) this.now();
    };
    document.addEventListener("visibilitychange", this.onVisible);
  }

  async now() {
    if (this.stopped || this.running) return;
    clearTimeout(this.timer);
    this.running = true;
    let busy = false;
    try {
      busy = await this.tick();
    } catch (error) {
      busy = false;
    } finally {
      this.running = false;
    }
    if (!this.stopped && !document.hidden) this.timer = setTimeout(() => this.now(), busy ? FAST_MS : SLOW_MS);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.onVisible);
  }
}

export function inProgress(status) {
  return /_IN_PROGRESS$/.test(String(status || ""));
}
