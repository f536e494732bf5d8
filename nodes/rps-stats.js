module.exports = require('../dist/src/nodes/rps-stats').default;
