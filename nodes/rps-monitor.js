module.exports = require('../dist/src/monitor/plugin').default;
