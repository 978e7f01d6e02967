import { keepYoungGenerationSmall } from '@cairn/transfer/young-generation';

// Imported first by main.ts: it must run before the rest of the controller is loaded (the entry point
// `@cairn/transfer/young-generation` loads nothing else).
keepYoungGenerationSmall();
