module.exports = require('../dist/src/nodes/rps-complete').default;
