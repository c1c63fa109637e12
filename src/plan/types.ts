// Cell and Task live in contracts (check grades a Task too); the run stage reads them as the plan's output through
// this module, which the stage table lets it import.
export type { Cell, Task } from '../contracts/plan.js';
