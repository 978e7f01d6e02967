export { createDashboard, DEFAULT_FILES_LIMIT, MAX_FILES_LIMIT, type Dashboard, type DashboardOptions } from './routes';
export { controllerSources, type DashboardSources, type FileSummary, type Overview } from './overview';
export { OverviewStream, EVENT_INTERVAL_MS } from './events';
