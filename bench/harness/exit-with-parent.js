'use strict';
/**
 * Preloaded (`-r`) into every process the bench starts: when the bench goes away,
 * however it ended, its IPC channel closes and the child exits instead of lingering.
 * Plain JavaScript, so that it needs no TypeScript loader in the compiled service.
 */
if (process.send) process.once('disconnect', () => process.exit(0));
