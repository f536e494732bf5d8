module.exports = require('../dist/src/nodes/rps-queue-retry').default;
