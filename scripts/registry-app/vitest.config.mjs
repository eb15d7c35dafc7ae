// vitest inlines pulsing (as it does for packages linked from a workspace): the ESM entry
// must work when the tool evaluates it instead of Node.
export default { test: { pool: 'forks', include: ['inline.test.mjs'], server: { deps: { inline: ['pulsing'] } } } };
