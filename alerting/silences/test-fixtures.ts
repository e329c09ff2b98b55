// Shared by the tests of this folder: a small demo city (same generator as the app's demo).
// ids: city, d01, d01s01, d01s01c01, d01s01c01g01 ... (2 districts × 2 streets × 2 communities × 3 grids)
import { generateDemoCity } from '../../config/demo-city.ts';
import { validateConfig } from '../../config/load.ts';
import { type OrgInput, OrgTree } from '../../config/org-tree.ts';

export const SMALL_CITY = {
  districts: 2,
  streetsPerDistrict: 2,
  communitiesPerStreet: 2,
  gridsPerCommunity: 3,
  sensorsPerGrid: 1,
  camerasPerGrid: 0,
};

export function smallCityInput(): OrgInput {
  return generateDemoCity(validateConfig({ org: { demo: SMALL_CITY } }).org.demo);
}

export function smallCity(): OrgTree {
  return new OrgTree(smallCityInput());
}
