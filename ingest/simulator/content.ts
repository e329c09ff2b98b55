// What the demo city's streams say: plausible sensor behaviour, camera analytics, and 12345 calls.
// Times of day are local to the city (Asia/Shanghai, UTC+8, no daylight saving).
import { intBetween, pick, type Rng } from './rand.ts';

const LOCAL_OFFSET_MS = 8 * 3_600_000;
const DAY_MS = 86_400_000;

/** Hour of the local day as a fraction, 0 ≤ h < 24. */
export function localHour(ts: number): number {
  const msOfDay = (((ts + LOCAL_OFFSET_MS) % DAY_MS) + DAY_MS) % DAY_MS;
  return msOfDay / 3_600_000;
}

/** Local date and time digits: { ymd: '20261122', hms: '093105' }. */
export function localStamp(ts: number): { ymd: string; hms: string } {
  const iso = new Date(ts + LOCAL_OFFSET_MS).toISOString();
  return { ymd: iso.slice(0, 10).replaceAll('-', ''), hms: iso.slice(11, 19).replaceAll(':', '') };
}

/** ISO-8601 with the +08:00 offset, as a Chinese call-centre system writes it. */
export function localIso(ts: number): string {
  return new Date(ts + LOCAL_OFFSET_MS).toISOString().replace('Z', '+08:00');
}

const bump = (h: number, at: number, width: number) => Math.exp(-(((h - at) / width) ** 2));
/** -1 at 03:00, +1 at 15:00. */
const dayCurve = (h: number) => -Math.cos((2 * Math.PI * (h - 3)) / 24);

export interface MetricProfile {
  /** The plausible range readings are clamped to. */
  lo: number;
  hi: number;
  /** Per-device baselines are drawn from [baseLo, baseHi). */
  baseLo: number;
  baseHi: number;
  /** Amplitude of the daily cycle and the shape of it by local hour, in [-1, 1]. */
  amp: number;
  shape: (hour: number) => number;
  /** Standard deviation of the reading noise. */
  noise: number;
}

export const METRIC_PROFILES: Readonly<Record<string, MetricProfile>> = {
  // Drainage gauges (积水, metres of standing water): a slow semi-diurnal swing, well under the
  // built-in rule's 1.5 m so a quiet city raises no water alerts.
  water_level: {
    lo: 0.05,
    hi: 1.1,
    baseLo: 0.2,
    baseHi: 0.7,
    amp: 0.1,
    noise: 0.02,
    shape: (h) => Math.sin((2 * Math.PI * h) / 12),
  },
  // Pipeline gas: cooking peaks at lunch and dinner.
  gas_ppm: {
    lo: 2,
    hi: 10,
    baseLo: 2.5,
    baseHi: 5,
    amp: 2,
    noise: 0.4,
    shape: (h) => bump(h, 11.5, 1.2) + bump(h, 18.2, 1.5) - 0.3,
  },
  noise_db: { lo: 40, hi: 70, baseLo: 51, baseHi: 57, amp: 9, noise: 2, shape: dayCurve },
  smoke_obscuration: {
    lo: 0,
    hi: 1,
    baseLo: 0.05,
    baseHi: 0.25,
    amp: 0.05,
    noise: 0.04,
    shape: (h) => bump(h, 11.5, 1.2) + bump(h, 18.2, 1.5),
  },
  manhole_tilt: { lo: 0, hi: 2, baseLo: 0.1, baseHi: 1.2, amp: 0.02, noise: 0.05, shape: dayCurve },
  // Particulates: morning and evening rush hours.
  pm25: {
    lo: 20,
    hi: 120,
    baseLo: 35,
    baseHi: 75,
    amp: 20,
    noise: 6,
    shape: (h) => bump(h, 8, 1.5) + bump(h, 18.5, 2) - 0.4,
  },
  temperature: { lo: -10, hi: 40, baseLo: 12, baseHi: 24, amp: 5, noise: 0.3, shape: dayCurve },
};

/** A profile for a metric the simulator has no story for: a quiet reading near the bottom of its range. */
export function genericProfile(min: number, max: number): MetricProfile {
  const span = Math.min(max - min, 100);
  return {
    lo: min,
    hi: min + span,
    baseLo: min + span * 0.2,
    baseHi: min + span * 0.5,
    amp: span * 0.05,
    noise: span * 0.01,
    shape: dayCurve,
  };
}

export interface VideoEventProfile {
  /** Relative frequency among random events. */
  weight: number;
  /** object_count range, for events that count something. */
  count?: [number, number];
}

export const VIDEO_EVENT_PROFILES: Readonly<Record<string, VideoEventProfile>> = {
  crowd_gathering: { weight: 1, count: [8, 60] },
  intrusion: { weight: 0.8, count: [1, 3] },
  fire_smoke: { weight: 0.3 },
  illegal_parking: { weight: 3, count: [1, 4] },
  vehicle_congestion: { weight: 2, count: [15, 80] },
  fall_detected: { weight: 0.4, count: [1, 1] },
  loitering: { weight: 1.2, count: [1, 3] },
  fight: { weight: 0.3, count: [2, 6] },
  illegal_vending: { weight: 1.5, count: [1, 5] },
  garbage_overflow: { weight: 1.5 },
};

/** Share of a city-wide call rate by local hour (linear between hours): quiet at night, busiest mornings. */
const HOTLINE_RHYTHM = [
  0.08, 0.05, 0.03, 0.03, 0.03, 0.05, 0.12, 0.35, 0.7, 0.95, 1, 1, 0.75, 0.8, 0.95, 1, 0.95, 0.85, 0.7, 0.65,
  0.6, 0.45, 0.3, 0.15,
];

export function hotlineRhythm(ts: number): number {
  const h = localHour(ts);
  const i = Math.floor(h);
  const a = HOTLINE_RHYTHM[i]!;
  const b = HOTLINE_RHYTHM[(i + 1) % 24]!;
  return a + (b - a) * (h - i);
}

/** Complaints and disputes dominate a 12345 line; work-safety and security calls are rare. */
export function categoryWeight(category: string): number {
  const group = category.split('.')[0];
  switch (group) {
    case 'complaint':
      return 6;
    case 'dispute':
      return 3;
    case 'request':
      return 1.5;
    case 'petition':
      return 1;
    case 'safety':
      return 0.3;
    case 'security':
      return 0.2;
    default:
      return 0.5;
  }
}

const SUMMARIES: Readonly<Record<string, readonly string[]>> = {
  'complaint.noise': [
    '楼下广场舞音响声音过大，晚上影响休息',
    '隔壁工地夜间施工噪音扰民，要求尽快处理',
    '楼上住户深夜持续发出噪音，多次沟通无果',
    '附近烧烤店深夜喧哗，噪音很大',
    '小区内商铺使用高音喇叭叫卖，影响居民生活',
  ],
  'complaint.environment': ['附近工厂排放刺鼻气味，居民反映强烈', '河道水质发黑发臭，希望相关部门治理'],
  'complaint.sanitation': ['小区垃圾桶满溢多日无人清运', '路边建筑垃圾乱堆乱放，影响通行'],
  'complaint.traffic': ['路口信号灯故障，车辆通行混乱', '小区门口车辆乱停乱放，堵塞消防通道'],
  'complaint.property': ['物业不作为，电梯长期故障无人维修', '小区绿化被物业擅自改建停车位'],
  'complaint.service': ['窗口办事人员态度差，办理业务效率低', '社区服务中心工作时间无人值守'],
  'dispute.neighbour': ['邻居私自占用楼道堆放杂物，协商未果', '楼上漏水导致楼下天花板受损，双方发生纠纷'],
  'dispute.family': ['家庭成员因赡养老人问题发生争执，请求调解'],
  'dispute.labour': ['工地拖欠农民工工资三个月未发', '公司无故辞退员工且拒绝支付补偿'],
  'dispute.land': ['村民因宅基地边界问题发生纠纷'],
  'dispute.property_fee': ['业主与物业因物业费上涨问题产生争议'],
  'petition.general': ['反映拆迁补偿标准问题，要求相关部门答复'],
  'request.consultation': ['咨询居住证办理所需材料', '咨询医保异地备案办理流程'],
  'request.repair': ['小区路灯损坏多盏，夜间出行不便', '人行道井盖松动，存在安全隐患'],
  'safety.gas': ['闻到楼道内有煤气味，担心燃气泄漏'],
  'safety.fire': ['楼道内电动车违规充电，存在火灾隐患'],
  'safety.construction': ['工地脚手架搭设不规范，存在坠落风险'],
  'safety.hazchem_fireworks': ['有人在居民楼内私存烟花爆竹'],
  'security.fraud': ['接到冒充客服的诈骗电话，已被骗取钱款'],
  'security.theft_robbery': ['小区内电动车电瓶被盗'],
};

const GROUP_SUMMARIES: Readonly<Record<string, string>> = {
  complaint: '市民来电投诉，要求相关部门尽快处理',
  dispute: '当事双方发生纠纷，请求网格员协调化解',
  petition: '群众来电反映诉求，要求相关部门答复',
  request: '市民来电求助，请相关部门协助办理',
  safety: '市民反映存在安全生产隐患，请求核查',
  security: '群众反映治安情况，请求公安部门核实',
};

export function summaryFor(rng: Rng, category: string): string {
  const own = SUMMARIES[category];
  if (own) return pick(rng, own);
  return GROUP_SUMMARIES[category.split('.')[0] ?? ''] ?? `市民来电反映${category}相关问题`;
}

const MOBILE_PREFIXES = [
  '130',
  '131',
  '132',
  '133',
  '134',
  '135',
  '136',
  '137',
  '138',
  '139',
  '150',
  '151',
  '152',
  '153',
  '155',
  '156',
  '157',
  '158',
  '159',
  '177',
  '180',
  '181',
  '182',
  '183',
  '185',
  '186',
  '187',
  '188',
  '189',
  '199',
];

/** A fake but well-formed 11-digit mainland mobile number. */
export function mobileNumber(rng: Rng): string {
  let s = pick(rng, MOBILE_PREFIXES);
  for (let i = 0; i < 8; i++) s += String(intBetween(rng, 0, 9));
  return s;
}

/** The unit and room inside a building: '3单元502室'. */
export function roomSuffix(rng: Rng): string {
  const floor = intBetween(rng, 1, 18);
  return `${intBetween(rng, 1, 4)}单元${floor}0${intBetween(rng, 1, 4)}室`;
}

/** Object counts for a video event: undefined for event types that count nothing. */
export function objectCount(rng: Rng, profile: VideoEventProfile | undefined): number | undefined {
  return profile?.count ? intBetween(rng, profile.count[0], profile.count[1]) : undefined;
}
