// Routes (history mode). Unknown paths go to the board; without a session, to /login.
import { createRouter, createWebHistory } from 'vue-router';
import { restore, session } from './store/session.ts';
import AlertDetailView from './views/AlertDetailView.vue';
import BoardView from './views/BoardView.vue';
import DashboardView from './views/DashboardView.vue';
import LoginView from './views/LoginView.vue';
import MapView from './views/MapView.vue';

export const router = createRouter({
  history: createWebHistory('/'),
  routes: [
    { path: '/login', name: 'login', component: LoginView, meta: { public: true } },
    { path: '/', name: 'board', component: BoardView },
    { path: '/alerts/:id', name: 'alert', component: AlertDetailView, props: true },
    { path: '/map', name: 'map', component: MapView },
    { path: '/dashboard', name: 'dashboard', component: DashboardView },
    { path: '/:rest(.*)*', redirect: '/' },
  ],
});

router.beforeEach(async (to) => {
  if (!session.checked) await restore();
  if (to.name === 'login') {
    if (session.me) return typeof to.query.next === 'string' ? to.query.next : '/';
    return true;
  }
  if (!session.me) return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} };
  return true;
});
