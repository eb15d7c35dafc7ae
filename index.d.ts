// Public types of the `pulsing` package (generated from src/ into dist/).
export * from './dist/index';
