// Where the controller publishes upgrades. kcm v1.6+'s own controllers also write
// status.servicesUpgradePaths (a full status update whenever their value differs), so two
// writers would overwrite each other for ever: in `auto` chaingate writes that field only while
// no other field manager owns it, and otherwise publishes the same entries in its annotation.
export type StatusWriter = 'auto' | 'status' | 'annotation' | 'off';
export const STATUS_WRITERS: readonly StatusWriter[] = ['auto', 'status', 'annotation', 'off'];
export const UPGRADE_PATHS_ANNOTATION = 'chaingate.k0rdent.mirantis.com/upgrade-paths';
