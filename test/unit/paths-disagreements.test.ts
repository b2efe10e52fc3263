import { describe, expect, it } from 'vitest';
import { disagreements } from '../../src/cli/paths-live.ts';

const mine = [
  { name: 'app', namespace: 'app', template: 'a-1', availableUpgrades: [{ upgradePaths: ['a-2'] }, { upgradePaths: ['a-2', 'a-3'] }] },
  { name: 'plain', namespace: 'plain', template: 'p-1' },
];

describe("kcm's status against chaingate's view", () => {
  it('says nothing where they agree (kcm shape with versions, same steps in the same order)', () => {
    const kcm = [
      { name: 'app', namespace: 'app', template: 'a-1', availableUpgrades: [{ versions: [{ name: 'a-2', version: '1.2.0' }, { name: 'a-3', version: '1.3.0' }] }, { versions: [{ name: 'a-2', version: '1.2.0' }] }] },
      { name: 'plain', namespace: 'plain', template: 'p-1' },
    ];
    expect(disagreements(mine, kcm)).toEqual([]);
  });

  it("names kcm's order, its extra items (a service as its own upgrade) and what it lacks", () => {
    const kcm = [
      { name: 'app', namespace: 'app', template: 'a-1', availableUpgrades: [{ versions: [{ name: 'a-3', version: '1.10.0' }, { name: 'a-2', version: '1.9.0' }] }] },
      { name: 'plain', namespace: 'plain', template: 'p-1', availableUpgrades: [{ versions: [{ name: 'p-1', version: 'p-1' }] }] },
    ];
    expect(disagreements(mine, kcm)).toEqual([
      "service app/app: kcm's status differs: kcm does not list [a-2]; kcm lists a-3 before a-2",
      "service plain/plain: kcm's status differs: kcm also lists [p-1]",
    ]);
    expect(disagreements(mine, [])).toEqual(["service app/app: kcm's status has no entry for it", "service plain/plain: kcm's status has no entry for it"]);
    expect(disagreements(mine, ['junk', null, { name: 7 }])).toHaveLength(2);
  });
});
