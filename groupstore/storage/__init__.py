"""Everything that talks to MongoDB. The only package that imports pymongo, bson or gridfs."""
