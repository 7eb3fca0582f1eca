"""Wire schemas: request fields, validation and rendering per resource."""
