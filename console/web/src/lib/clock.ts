// One shared ticking clock for ages and SLA countdowns (a single interval for the whole page).
import { ref } from 'vue';

export const now = ref(Date.now());
let timer: ReturnType<typeof setInterval> | null = null;

export function startClock(): void {
  if (timer !== null) return;
  timer = setInterval(() => {
    now.value = Date.now();
  }, 1000);
}
