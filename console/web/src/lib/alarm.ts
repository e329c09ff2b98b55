// The audible cue for a new top-tier alert: a WebAudio oscillator beep (no audio files), with a
// mute toggle persisted in localStorage. Browsers keep an AudioContext suspended until the user
// interacts with the page, so the context is created/resumed on the first pointer or key press.
import { ref, watch } from 'vue';

const KEY = 'gw.muted';

function savedMuted(): boolean {
  try {
    return localStorage.getItem(KEY) === '1';
  } catch {
    return false;
  }
}

export const muted = ref(savedMuted());
watch(muted, (m) => {
  try {
    localStorage.setItem(KEY, m ? '1' : '0');
  } catch {
    // not persisted
  }
});

/** Audible cues played (exposed to tests as window.__gw.alarms). */
export const alarmCount = ref(0);

let ctx: AudioContext | null = null;

function context(): AudioContext | null {
  if (ctx) return ctx;
  const Ctor =
    window.AudioContext ??
    (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
  if (!Ctor) return null;
  try {
    ctx = new Ctor();
  } catch {
    ctx = null;
  }
  return ctx;
}

export function unlockAudioOnGesture(): void {
  const unlock = () => {
    const c = context();
    if (c && c.state === 'suspended') void c.resume().catch(() => undefined);
  };
  window.addEventListener('pointerdown', unlock, { capture: true });
  window.addEventListener('keydown', unlock, { capture: true });
}

/** Three short two-tone beeps (~1 s). Returns false when muted (nothing played, nothing counted). */
export function playAlarm(): boolean {
  if (muted.value) return false;
  alarmCount.value++;
  const c = context();
  if (!c) return true;
  if (c.state === 'suspended') void c.resume().catch(() => undefined);
  const t0 = c.currentTime + 0.02;
  for (let i = 0; i < 3; i++) {
    const start = t0 + i * 0.32;
    const osc = c.createOscillator();
    const gain = c.createGain();
    osc.type = 'square';
    osc.frequency.setValueAtTime(880, start);
    osc.frequency.setValueAtTime(1320, start + 0.11);
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.25, start + 0.015);
    gain.gain.setValueAtTime(0.25, start + 0.2);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.24);
    osc.connect(gain).connect(c.destination);
    osc.start(start);
    osc.stop(start + 0.26);
  }
  return true;
}
