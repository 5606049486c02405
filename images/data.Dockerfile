# The review data as a tiny image, for builders without named build contexts: the trainer target of
# images/Dockerfile takes it as DATA_IMAGE (see there). Context: the data directory (../shared/data).
FROM scratch
COPY flipkart_reviews_badminton.csv /flipkart_reviews_badminton.csv
