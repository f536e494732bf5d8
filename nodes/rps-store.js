module.exports = require('../dist/src/nodes/rps-store').default;
