// Types of `pulsing/connect` for resolvers that do not read package.json `exports`.
export * from './dist/connect';
