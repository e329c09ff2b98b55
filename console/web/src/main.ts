// Entry of the duty officers' console.
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { createApp } from 'vue';
import App from './App.vue';
import { currentLocale, i18n } from './i18n.ts';
import { alarmCount, unlockAudioOnGesture } from './lib/alarm.ts';
import { startClock } from './lib/clock.ts';
import { router } from './router.ts';
import { applied } from './store/alerts.ts';
import { currentSocket } from './store/connection.ts';
import { onSessionEnded } from './store/session.ts';

declare global {
  interface Window {
    __gw: { readonly socket: unknown; applied: number[]; readonly alarms: number };
  }
}

// Hooks for the browser tests.
window.__gw = {
  get socket() {
    return currentSocket();
  },
  applied,
  get alarms() {
    return alarmCount.value;
  },
};

onSessionEnded(() => {
  const here = router.currentRoute.value;
  if (here.name !== 'login') void router.push({ name: 'login' });
});

document.documentElement.lang = currentLocale();
startClock();
unlockAudioOnGesture();

createApp(App).use(i18n).use(router).mount('#app');
