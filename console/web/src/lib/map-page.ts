// State of the map page: the current node (from the route), the laid-out cells with their
// worst-tier colour, and the alerts listed beside the map.
import { computed, onBeforeUnmount, onMounted, type Ref, ref } from 'vue';
import type { Alert } from '../../../shared/protocol.ts';
import { alerts } from '../store/alerts.ts';
import { session } from '../store/session.ts';
import { compareAlerts } from './board.ts';
import { type Cell, layout, type NodeStatus, statusByNode } from './treemap.ts';

export const NEUTRAL = '#2a3242';

export interface MapCell extends Cell {
  status: NodeStatus;
  tierName: string;
  color: string;
}

export function useMap(currentId: Ref<string>, box: Ref<HTMLElement | null>) {
  const width = ref(0);
  const height = ref(0);
  let ro: ResizeObserver | null = null;
  onMounted(() => {
    ro = new ResizeObserver(() => {
      const el = box.value;
      if (!el) return;
      width.value = Math.floor(el.clientWidth);
      height.value = Math.floor(el.clientHeight);
    });
    if (box.value) ro.observe(box.value);
  });
  onBeforeUnmount(() => ro?.disconnect());

  const org = computed(() => session.org);
  const current = computed(() => {
    const o = org.value;
    if (!o) return '';
    return o.byId.has(currentId.value) ? currentId.value : o.root;
  });
  const status = computed(() =>
    org.value ? statusByNode(alerts.values(), org.value) : new Map<string, NodeStatus>(),
  );
  const geometry = computed(() =>
    org.value ? layout(org.value, current.value, width.value, height.value) : [],
  );
  const cells = computed<MapCell[]>(() => {
    const o = org.value;
    if (!o) return [];
    return geometry.value.map((c) => {
      const st = status.value.get(c.node.id) ?? { count: 0, worstRank: -1 };
      const tier = st.worstRank >= 0 ? o.tiers[st.worstRank] : undefined;
      return { ...c, status: st, tierName: tier?.name ?? 'none', color: tier?.color ?? NEUTRAL };
    });
  });
  const crumbs = computed(() => (org.value ? org.value.path(current.value) : []));

  /** Open alerts at or under a node, worst first. */
  function alertsUnder(id: string): Alert[] {
    const o = org.value;
    if (!o) return [];
    const out: Alert[] = [];
    for (const a of alerts.values()) if (a.area === id || o.isWithin(a.area, id)) out.push(a);
    return out.sort(compareAlerts);
  }

  return { org, current, cells, crumbs, status, width, height, alertsUnder };
}
