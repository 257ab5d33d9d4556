/**
 * Target groups (`groups: [{name, targets: [...]}]`): a group's name may stand in a request's `target`; it
 * expands to its members (configured target names or ad-hoc addresses), which play at once, each reported on
 * its own with the group's name.
 */
import type { GroupOptions, TargetOptions } from '../config/schema.js';
import { adHocSpec } from './targets.js';

/**
 * Checks groups against the targets: unique group names that are not also target names, and members that are
 * configured targets or valid addresses. Returns `groups[i].field: message` lines; empty when all is well.
 */
export function groupProblems(groups: GroupOptions[], targets: TargetOptions[]): string[] {
  const problems: string[] = [];
  const targetNames = new Set(targets.map((t) => t.name));
  const seen = new Set<string>();
  groups.forEach((g, i) => {
    const at = `groups[${i}]`;
    if (seen.has(g.name)) problems.push(`${at}.name: duplicate group name '${g.name}'`);
    if (targetNames.has(g.name)) problems.push(`${at}.name: '${g.name}' is already a target's name`);
    seen.add(g.name);
    for (const member of g.targets) {
      if (targetNames.has(member) || adHocSpec(member)) continue;
      const known = [...targetNames];
      problems.push(
        `${at}.targets: unknown target '${member}' in group '${g.name}'; configured targets: ${known.length ? known.join(', ') : 'none'} (or an address such as media_player.<name>)`,
      );
    }
  });
  return problems;
}
