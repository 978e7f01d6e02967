const nxPreset = require('@nx/jest/preset').default;

module.exports = {
  ...nxPreset,
  // Resolve workspace libs to their TypeScript sources (the "@cairn/source" export condition).
  testEnvironmentOptions: { customExportConditions: ['@cairn/source', 'node', 'require', 'default'] },
};
