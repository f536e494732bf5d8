module.exports = require('../dist/src/nodes/rps-process-event').default;
