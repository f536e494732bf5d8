module.exports = require('../dist/src/nodes/rps-capture').default;
