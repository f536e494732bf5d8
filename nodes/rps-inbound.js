module.exports = require('../dist/src/nodes/rps-inbound').default;
